import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlab.errors import DataFormatError
from gridlab.sources.sensor_grid import (
    GridFormat,
    parse_frame,
    parse_frames,
    parse_frames_parallel,
    read_sensor_folder,
    write_frame,
)
from gridlab.sources.skips import Skipped


def test_round_trip(tmp_path):
    frame = np.round(np.random.default_rng(0).normal(30, 2, (4, 5)), 2).astype(np.float32)
    write_frame(tmp_path / "f.txt", frame, ["header"])
    assert np.array_equal(parse_frame(tmp_path / "f.txt", fmt=GridFormat(skip_rows=1)), frame)


def test_seed004_rules(tmp_path):
    """Skip header lines, leave out short rows, keep a column window: values stay full precision."""
    lines = ["HEADER", "blackbody 35.0"] + [" ".join(f"{30 + r + c / 100:.2f}" for c in range(8)) for r in range(3)]
    lines.insert(3, "1 2")  # a short line inside the frame is not a frame row
    (tmp_path / "f.txt").write_text("\n".join(lines) + "\n36.6\n")
    frame = parse_frame(tmp_path / "f.txt", fmt=GridFormat(skip_rows=2, min_values=5, cols=(0, 6)))
    assert frame.shape == (3, 6) and frame.dtype == np.float32
    assert frame[2, 5] == np.float32(32.05)


@pytest.mark.parametrize("text, fmt, message", [
    ("1 2 3\n4 5\n", GridFormat(), r"f.txt:2: ragged rows: expected 3 values like the first row, received 2"),
    ("1 2 3\n4 x 6\n", GridFormat(), r"f.txt:2: expected a number in column 2, received 'x'"),
    ("1 2 3\n4 nan 6\n", GridFormat(), r"f.txt:2: expected a finite number in column 2, received nan"),
    ("1 2 inf\n", GridFormat(), r"f.txt:1: expected a finite number in column 3, received inf"),
    ("", GridFormat(), r"f.txt: expected rows of numbers, received an empty file"),
    ("1,2,3,\n4,5,6,\n", GridFormat(delimiter="comma"), r"f.txt:1: expected a number in column 4, received an "
                                                         r"empty value \(a doubled or trailing delimiter\?\)"),
    ("1 2 3\n4 5 6\n", GridFormat(shape=(3, 3)), r"expected a frame of shape \(3, 3\), received \(2, 3\)"),
    ("1 2 3\n4 5 6\n", GridFormat(cols=(0, 4)), r"f.txt:1: expected at least 4 values in a row, received 3"),
])
def test_bad_frames(tmp_path, text, fmt, message):
    (tmp_path / "f.txt").write_text(text)
    with pytest.raises(DataFormatError, match=message):
        parse_frame(tmp_path / "f.txt", fmt=fmt)


def test_trailing_whitespace_is_fine(tmp_path):
    (tmp_path / "f.txt").write_text("1 2 3 \n4 5 6\t\n\n")
    assert parse_frame(tmp_path / "f.txt").shape == (2, 3)


def test_folder_with_day_folders(grid_folder):
    f = read_sensor_folder(grid_folder, GridFormat(skip_rows=2))
    assert f.class_names == ["face", "other"] and f.x_train.shape == (16, 6, 5)
    assert np.bincount(f.y_train).tolist() == [12, 4] and f.skipped == []


def test_bad_frame_skip_is_listed(grid_folder):
    bad = grid_folder / "other" / "20201201" / "broken.txt"
    bad.write_text("# frame\nsensor 1\n1 2 3\n")
    with pytest.raises(DataFormatError, match="broken.txt"):
        read_sensor_folder(grid_folder, GridFormat(skip_rows=2), cache=False)
    f = read_sensor_folder(grid_folder, GridFormat(skip_rows=2), on_bad_file="skip", cache=False)
    assert len(f.x_train) == 16 and f.skipped[0][0] == str(bad) and "shape" in f.skipped[0][1]


def test_cache_hit_and_invalidation(grid_folder):
    from gridlab.sources.grid_cache import cache_folder

    fmt = GridFormat(skip_rows=2)
    first = read_sensor_folder(grid_folder, fmt)
    entries = list(cache_folder().glob("*.npz"))
    assert len(entries) == 1
    again = read_sensor_folder(grid_folder, fmt)
    assert np.array_equal(first.x_train, again.x_train)
    assert list(cache_folder().glob("*.npz")) == entries        # served from the cache, nothing rewritten
    # change one value in one file: the cache must not serve the old frame
    path = sorted((grid_folder / "face").rglob("*.txt"))[0]
    text = path.read_text().splitlines()
    text[2] = " ".join(["99.00"] + text[2].split()[1:])
    path.write_text("\n".join(text) + "\n")
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    changed = read_sensor_folder(grid_folder, fmt)
    assert 99.0 in changed.x_train
    assert len(list(cache_folder().glob("*.npz"))) == 1        # the stale entry was replaced


# --- the batched fast path must agree with the strict parser -------------------------------------------------------


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.floats(-1000, 1000, allow_nan=False, width=32), min_size=3, max_size=3),
                min_size=2, max_size=4),
       st.sampled_from(["{:.2f}", "{:.0f}", "{:g}", "{:.6e}"]))
def test_fast_batch_equals_strict(tmp_path_factory, rows, form):
    tmp = tmp_path_factory.mktemp("fast")
    text = "head er\n" + "\n".join(" ".join(form.format(v) for v in row) for row in rows) + "\n"
    path = _write(tmp, "f.txt", text)
    fmt = GridFormat(skip_rows=1)
    x, _ = parse_frames([(path, 0), (path, 0)], fmt, Skipped())
    assert np.array_equal(x[0], parse_frame(path, fmt=fmt)) and np.array_equal(x[0], x[1])


@pytest.mark.parametrize("text", ["1\t2\t3\n4\t5\t6\n", "1  2 3\n4 5  6\n", " 1 2 3\n4 5 6 \n", "1 2 3\r\n4 5 6\r\n"])
def test_irregular_spacing_gives_strict_results(tmp_path, text):
    path = _write(tmp_path, "f.txt", text)
    x, _ = parse_frames([(path, 0)], GridFormat(), Skipped())
    assert x[0].tolist() == [[1, 2, 3], [4, 5, 6]]


def test_batch_with_one_bad_file_names_it(tmp_path):
    good = [_write(tmp_path, f"g{i}.txt", "1 2\n3 4\n") for i in range(3)]
    bad = _write(tmp_path, "bad.txt", "1 2\n3 nan\n")
    items = [(p, 0) for p in good] + [(bad, 1)]
    with pytest.raises(DataFormatError, match=r"bad.txt:2: expected a finite number in column 2"):
        parse_frames(items, GridFormat(), Skipped())
    x, y = parse_frames(items, GridFormat(), skipped := Skipped("skip"))
    assert len(x) == 3 and skipped.files[0][0] == str(bad)


def test_parallel_matches_serial(tmp_path):
    items = [(_write(tmp_path, f"f{i:02d}.txt", f"{i} 1 2\n3 4 {i}.5\n"), i % 2) for i in range(12)]
    bad = _write(tmp_path, "zz.txt", "1 2\n")
    items.append((bad, 0))
    s1, s2 = Skipped("skip"), Skipped("skip")
    x1, y1 = parse_frames(items, GridFormat(), s1)
    x2, y2 = parse_frames_parallel(items, GridFormat(), s2, workers=2, min_items=1)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2) and [p for p, _ in s2.files] == [str(bad)]


def test_parallel_error_reaches_the_caller(tmp_path):
    items = [(_write(tmp_path, f"f{i:02d}.txt", "1 2\n3 4\n"), 0) for i in range(6)]
    items.append((_write(tmp_path, "x.txt", "1 2\n3 four\n"), 1))
    with pytest.raises(DataFormatError, match=r"x.txt:2: expected a number in column 2, received 'four'"):
        parse_frames_parallel(items, GridFormat(), Skipped(), workers=2, min_items=1)


UNGUARDED_SCRIPT = """
import sys
from gridlab.sources.sensor_grid import GridFormat, parse_frames_parallel
from gridlab.sources.skips import Skipped

# no `if __name__ == "__main__":` guard: each spawned worker runs this again, and Python refuses its pool
items = [(p, 0) for p in sys.argv[1:]]
parse_frames_parallel(items, GridFormat(), Skipped(), workers=2, min_items=1)
"""


def test_a_script_without_a_main_guard_gets_one_error_naming_the_fix(tmp_path):
    import subprocess
    import sys

    paths = [str(_write(tmp_path, f"f{i}.txt", "1 2\n3 4\n")) for i in range(4)]
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED_SCRIPT)
    out = subprocess.run([sys.executable, str(script), *paths], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert out.returncode == 1
    # the traceback ends in gridlab's error. Python's resource tracker may add its own warning after it, about the
    # semaphores the broken workers left: it runs in a process of its own and prints when the script has ended
    lines = [line for line in out.stderr.strip().splitlines() if "resource_tracker" not in line]
    assert lines[-1] == (
        "gridlab.errors.GridlabError: reading 4 frames in 2 processes: a worker process ended before it started "
        "(expected 2 worker processes, received none). In a script, put the code that calls gridlab under "
        "`if __name__ == \"__main__\":` (each worker process imports the script again).")
