import numpy as np
import pytest
from PIL import Image

from gridlab.errors import DataFormatError
from gridlab.sources.image_folder import decode_image, read_image_folder


def test_reads_classes_and_labels(image_folder):
    f = read_image_folder(image_folder)
    assert f.class_names == ["cat", "dog"] and f.x_train.shape == (20, 8, 8, 1) and f.x_train.dtype == np.uint8
    assert np.bincount(f.y_train).tolist() == [10, 10] and f.x_test is None and f.skipped == [] == f.ignored


def test_rgb_and_resize(image_folder):
    assert read_image_folder(image_folder, color="rgb", size=(5, 6)).x_train.shape == (20, 5, 6, 3)


def test_test_split_folder(image_folder):
    for name in ("cat", "dog"):
        (image_folder / "test" / name).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(image_folder / "test" / name / "t.png")
    f = read_image_folder(image_folder)
    assert f.class_names == ["cat", "dog"] and len(f.x_test) == 2 and f.y_test.tolist() == [0, 1]


@pytest.mark.parametrize("content, message", [
    (b"", "received an empty file"),
    (b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "expected a valid PNG image"),
    (b"II*\x00" + b"\x00" * 100, r"expected PNG, JPEG or BMP content, received bytes b'II\*\\x00'"),
])
def test_bad_files_error_or_skip(image_folder, content, message):
    bad = image_folder / "cat" / "bad.png"
    bad.write_bytes(content)
    with pytest.raises(DataFormatError, match=message):
        read_image_folder(image_folder)
    f = read_image_folder(image_folder, on_bad_file="skip")
    assert len(f.x_train) == 20 and [p for p, _ in f.skipped] == [str(bad)]


def test_real_tiff_named_png_is_refused(tmp_path):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "x.png", format="TIFF")
    with pytest.raises(DataFormatError, match="expected PNG, JPEG or BMP content"):
        decode_image(tmp_path / "x.png")


def test_empty_class_folder(image_folder):
    (image_folder / "emu").mkdir()
    with pytest.raises(DataFormatError, match=r"emu: expected files matching '\*' in this class folder, "
                                              "received none"):
        read_image_folder(image_folder)
    f = read_image_folder(image_folder, on_bad_file="skip")
    assert "emu" in f.class_names and f.skipped[0][0].endswith("emu")


def test_pixel_limit(tmp_path):
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(DataFormatError, match=r"expected at most 100 pixels, received 20x20"):
        decode_image(tmp_path / "big.png", max_pixels=100)


def test_jpeg_and_bmp_by_content(tmp_path):
    img = Image.fromarray(np.full((6, 6), 200, np.uint8))
    img.save(tmp_path / "a.jpg", format="JPEG")
    img.save(tmp_path / "b.dat", format="BMP")
    assert decode_image(tmp_path / "a.jpg").shape == (6, 6, 1)
    assert decode_image(tmp_path / "b.dat").mean() == 200


def test_folder_kind_follows_what_the_folders_mostly_hold(image_folder, grid_folder):
    from gridlab.sources import detect_source

    (image_folder / "cat" / "notes.txt").write_text("a note\n")
    (grid_folder / "face" / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert detect_source(str(image_folder)) == "image_folder"
    assert detect_source(str(grid_folder)) == "sensor_grid"
    f = read_image_folder(image_folder)
    notes = image_folder / "cat" / "notes.txt"
    assert len(f.x_train) == 20
    assert f.ignored == [(str(notes), f"{notes}: not an image (no image name or PNG/JPEG/BMP content); ignored")]
