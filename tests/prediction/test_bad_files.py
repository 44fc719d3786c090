"""One bad file costs one row: 300 PNGs, 3 of them corrupt (numbers 100, 150 and 200), give 297 predictions and 3
error rows on every multi-file path (CSV, the screen, Python, Parquet, --explain); the exit code says some failed;
a single bad file is still a one-line error (exit 2)."""
import csv
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import gridlab
from gridlab.cli import main
from gridlab.errors import EXIT_REFUSED, EXIT_SOME_FAILED, DataFormatError
from tests.conftest import make_images, write_idx_set

# one worker runs this module (pytest-xdist): its trained runs are built once, not once per worker
pytestmark = pytest.mark.xdist_group("bad_files")

CORRUPT = (100, 150, 200)
REASON = "expected a valid PNG image, received 28 bytes that the PNG decoder cannot read"


def write_inbox(folder, n: int = 300, size: int = 8):
    """``n`` PNGs named 0000.png ...; those numbered in CORRUPT hold a PNG signature and garbage."""
    folder.mkdir(parents=True, exist_ok=True)
    images, _ = make_images(-(-n // 3), size, 3, seed=7)
    paths = []
    for i in range(n):
        path = folder / f"{i:04d}.png"
        if i in CORRUPT:
            path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not an image at all!")
        else:
            Image.fromarray(images[i]).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def run_and_inbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-files")
    write_idx_set(root / "idx")
    run = gridlab.train(data="mnist", data_dir=str(root / "idx"), model="seed002_mlp", epochs=1, batch=8,
                        project=str(root / "runs"), verbose=False, report=False, audit=False)
    return run.folder, write_inbox(root / "in")


def _check_rows(rows, files):
    assert [r["file"] for r in rows] == [str(f) for f in files]
    failed = [i for i, r in enumerate(rows) if r["error"]]
    assert failed == list(CORRUPT)
    assert all(r["class"] in ("0", "1", "2") for i, r in enumerate(rows) if i not in CORRUPT)
    for i in CORRUPT:
        assert rows[i]["error"].startswith(f"{files[i]}: {REASON}")
        assert "0x" not in rows[i]["error"] and "<_io" not in rows[i]["error"]    # no Python object reprs


def test_python_api_returns_every_row(run_and_inbox):
    run, files = run_and_inbox
    rows = gridlab.predict(run, files)
    _check_rows(rows, files)
    assert len(rows.failed) == 3
    assert rows.summary() == f"297 predicted, 3 failed: 3 x {REASON} (the PNG signature is followed by no image " \
                             "Pillow can identify)"


def test_csv_and_screen_keep_the_good_rows_and_exit_3(run_and_inbox, tmp_path, capsys):
    run, files = run_and_inbox
    code = main(["predict", str(run), *map(str, files), "--out", "plain.csv"])
    out, err = capsys.readouterr()
    assert code == EXIT_SOME_FAILED == 3
    rows = list(csv.DictReader(open(tmp_path / "plain.csv")))
    assert len(rows) == 300 and [i for i, r in enumerate(rows) if r["error"]] == list(CORRUPT)
    assert all(r["class"] == "" and r["probability"] == "" for r in rows if r["error"])
    lines = out.splitlines()
    assert len(lines) == 1 + 300 + 1 and lines[-1] == "written: plain.csv"
    shown = {line.split()[0]: line for line in lines[1:-1]}
    assert all(f"- - - - error: {files[i]}: {REASON}" in re.sub(r"\s+", " ", shown[str(files[i])]) for i in CORRUPT)
    assert err.strip().splitlines() == [f"gridlab predict: 297 predicted, 3 failed: 3 x {REASON} (the PNG "
                                        "signature is followed by no image Pillow can identify)"]


def test_explain_draws_the_good_files_and_lists_the_bad(run_and_inbox, tmp_path, capsys):
    """The same rule with --explain, on every 10th file and the 3 corrupt ones (a saliency PNG per good file is
    what costs; the 300-file case is the tests above)."""
    run, files = run_and_inbox
    some = [f for i, f in enumerate(files) if i % 10 == 5 or i in CORRUPT]
    code = main(["predict", str(run), *map(str, some), "--out", "x.csv", "--explain"])
    out, err = capsys.readouterr()
    assert code == 3 and "saliency: 30 PNG file(s) in x-explain" in out and "3 failed" in err
    rows = list(csv.DictReader(open(tmp_path / "x.csv")))
    assert len(rows) == 33 and [r["file"] for r in rows if r["error"]] == [str(files[i]) for i in CORRUPT]
    assert all(bool(r["explanation"]) != bool(r["error"]) for r in rows)
    assert len(list((tmp_path / "x-explain").glob("*.png"))) == 30


def test_parquet_stream_exits_3_with_the_same_rows(run_and_inbox, tmp_path, capsys):
    run, files = run_and_inbox
    assert main(["predict", str(run), str(files[0].parent), "--out", "p.parquet", "--chunk", "128"]) == 3
    table = pd.read_parquet(tmp_path / "p.parquet").sort_values("file").reset_index(drop=True)
    assert len(table) == 300 and table["error"].notna().sum() == 3
    assert "300 file(s) in p.parquet" in capsys.readouterr().out


def test_a_single_bad_file_is_still_one_line_and_exit_2(run_and_inbox, capsys):
    run, files = run_and_inbox
    assert main(["predict", str(run), str(files[100])]) == EXIT_REFUSED == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"gridlab predict: error: {files[100]}: {REASON} (the PNG signature is followed " \
                                "by no image Pillow can identify). Re-export the image, or remove it.\n"
    with pytest.raises(DataFormatError, match="0100.png"):
        gridlab.predict(run, [files[100]])


def test_every_file_bad_still_gives_every_row(run_and_inbox):
    run, files = run_and_inbox
    rows = gridlab.predict(run, [files[i] for i in CORRUPT])
    assert [r["class"] for r in rows] == [None] * 3 and rows.summary().startswith("0 predicted, 3 failed")
    assert np.all([r["top_k"] == [] for r in rows])
