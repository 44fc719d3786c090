"""Request parsing without HTTP: the plain functions the app calls, on a real Predictor of a trained run."""
import io
import json

import numpy as np
import pytest
from PIL import Image

from gridlab.prediction import Predictor
from gridlab.serving.requests import RequestError, answer_rows, decode_upload, json_inputs

# one worker runs the serving tests (pytest-xdist): the trained run and the server are built once
pytestmark = pytest.mark.xdist_group("serving")


@pytest.fixture(scope="module")
def predictor(served_run):
    return Predictor(served_run)


def _png(value=200, size=(28, 28)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full(size, value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_uploads_are_read_like_gridlab_predict(predictor, tmp_path):
    (tmp_path / "x.png").write_bytes(_png())
    upload = decode_upload(predictor, "x.png", _png(), 10_000, ("PNG",))
    assert np.array_equal(upload, predictor.read_file(tmp_path / "x.png"))
    buf = io.BytesIO()
    np.save(buf, np.full((28, 28), 7, np.uint8))
    assert decode_upload(predictor, "a.npy", buf.getvalue(), 10_000, ("PNG",)).shape == (28, 28, 1)


@pytest.mark.parametrize("data, status, text", [
    (b"", 422, "x: expected a file, received 0 bytes."),
    (b"GIF89a....", 415, "x: expected PNG content or a .npy array"),
    (None, 413, "expected at most 100 pixels"),
])
def test_refusals_carry_their_http_status(predictor, data, status, text):
    with pytest.raises(RequestError) as err:
        decode_upload(predictor, "x", _png() if data is None else data, 100, ("PNG",))
    assert err.value.status == status and text in err.value.detail


def test_json_bodies(predictor):
    grid = np.full((28, 28), 3).tolist()
    assert json_inputs(predictor, json.dumps({"grid": grid}).encode(), batch=False)[1][0].shape == (28, 28, 1)
    names, arrays, refusals = json_inputs(predictor, json.dumps({"grids": [grid, grid]}).encode(), batch=True)
    assert names == ["grids[0]", "grids[1]"] and len(arrays) == 2 and refusals == [None, None]
    with pytest.raises(RequestError, match=r"expected \{\"grids\": \[grid, \.\.\.\]\}"):
        json_inputs(predictor, b'{"grid": []}', batch=True)
    with pytest.raises(RequestError, match="not valid JSON"):
        json_inputs(predictor, b"{", batch=False)


def test_answer_rows_follow_the_decision_rule(predictor):
    x = np.stack([np.full((28, 28, 1), v, np.uint8) for v in (0, 250)])
    proba = predictor.predict_arrays(x)
    rows = answer_rows(predictor, x, proba, echo=True)
    assert [r["class"] for r in rows] == [predictor.class_names[i] for i in predictor.decide(proba)]
    assert abs(sum(rows[0]["probabilities"].values()) - 1) < 1e-5 and np.array(rows[1]["input"]).shape == (28, 28)


def test_a_bad_grid_in_a_batch_costs_its_own_row(predictor):
    grid = np.full((28, 28), 3).tolist()
    names, arrays, refusals = json_inputs(predictor, json.dumps({"grids": [grid, [[1, 2]], grid]}).encode(), True)
    assert [a is None for a in arrays] == [False, True, False]
    assert refusals[1].status == 422 and "grids[1]: expected shape (28, 28, 1), received (1, 2)" in refusals[1].detail
    with pytest.raises(RequestError, match=r"grids\[0\]: expected shape"):     # nothing readable: the first refusal
        json_inputs(predictor, json.dumps({"grids": [[[1]], [[2]]]}).encode(), True)
