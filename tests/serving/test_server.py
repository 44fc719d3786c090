"""The HTTP API against a real uvicorn server: happy paths and RELIABILITY.md's serving rows."""
import concurrent.futures
import io
import struct
import time
import zlib

import httpx
import numpy as np
import pytest
from PIL import Image

from .conftest import Server

# one worker runs the serving tests (pytest-xdist): the trained run and the server are built once
pytestmark = pytest.mark.xdist_group("serving")


def png(h=28, w=28, value=200) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height but whose data is tiny (a decompression bomb's shape)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + \
        chunk(b"IEND", b"")


def test_health_and_model(server):
    assert httpx.get(server.url + "/health").json()["status"] == "ok"
    m = httpx.get(server.url + "/model").json()
    assert m["classes"] == list("0123456789") and m["input_shape"] == [28, 28, 1] and m["runtime"] == "onnx"
    assert m["export_parity"]["onnx"]["passed"] is True


def test_predict_image_npy_json(server):
    r = httpx.post(server.url + "/predict", files={"file": ("x.png", png())})
    assert r.status_code == 200
    body = r.json()
    assert body["class"] in "0123456789" and abs(sum(body["probabilities"].values()) - 1) < 1e-4
    assert len(body["top_k"]) == 5 and body["latency_ms"] > 0 and "@" in body["model"]
    buf = io.BytesIO()
    np.save(buf, np.full((28, 28), 200, np.uint8))
    r2 = httpx.post(server.url + "/predict", files={"file": ("x.npy", buf.getvalue())})
    assert r2.json()["probabilities"] == pytest.approx(body["probabilities"], abs=1e-6)
    r3 = httpx.post(server.url + "/predict", json={"grid": np.full((28, 28), 200).tolist()})
    assert r3.json()["probabilities"] == pytest.approx(body["probabilities"], abs=1e-6)


def test_batch(server):
    files = [("file", (f"{i}.png", png(value=60 * i))) for i in range(3)]
    r = httpx.post(server.url + "/predict/batch", files=files)
    assert r.status_code == 200 and len(r.json()["results"]) == 3
    r = httpx.post(server.url + "/predict/batch", json={"grids": [np.zeros((28, 28)).tolist()] * 2})
    assert len(r.json()["results"]) == 2


def test_batch_of_300_with_3_corrupt_answers_297(server):
    """A bad file in a batch costs its own row: 297 answers and 3 error rows, in request order."""
    corrupt = (100, 150, 200)
    files = [("file", (f"{i:04d}.png", b"\x89PNG\r\n\x1a\n" + b"not an image at all!" if i in corrupt
                       else png(value=i % 250))) for i in range(300)]
    r = httpx.post(server.url + "/predict/batch", files=files, timeout=60)
    body = r.json()
    assert r.status_code == 200 and body["failed"] == 3 and len(body["results"]) == 300
    assert [row["file"] for row in body["results"]] == [f"{i:04d}.png" for i in range(300)]
    bad = [i for i, row in enumerate(body["results"]) if row.get("error")]
    assert bad == list(corrupt)
    assert all(body["results"][i]["status"] == 422 and body["results"][i]["class"] is None and
               body["results"][i]["error"].startswith(f"{i:04d}.png: expected a valid PNG image") for i in corrupt)
    assert all(row["class"] in "0123456789" for i, row in enumerate(body["results"]) if i not in corrupt)
    one_bad = httpx.post(server.url + "/predict/batch", files=[files[100]])     # nothing readable: its own 422
    assert one_bad.status_code == 422 and one_bad.json()["detail"].startswith("0100.png: expected a valid PNG")


def test_every_answer_carries_the_ood_score_of_the_keras_model(server, served_run):
    """The server (ONNX Runtime, with the export's model-ood.onnx) scores as the run's Keras model does; noise is
    flagged next to its class."""
    from gridlab.prediction import Predictor

    rng = np.random.default_rng(4)
    grids = [rng.integers(0, 256, (28, 28)).tolist(), np.zeros((28, 28)).tolist()]
    body = httpx.post(server.url + "/predict/batch", json={"grids": grids}).json()
    _, expected = Predictor(served_run).predict_scored(np.asarray(grids, np.uint8)[..., None])
    got = [r["ood_score"] for r in body["results"]]
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-3 * np.abs(expected).max())
    assert body["results"][0]["ood"] is True and body["results"][0]["class"] in "0123456789"


def test_explain_returns_a_saliency_map_per_input(server):
    """?explain=true: the map comes from the run's Keras model (the server itself runs the ONNX export)."""
    grid = np.random.default_rng(0).integers(0, 256, (28, 28)).tolist()
    plain = httpx.post(server.url + "/predict", json={"grid": grid}).json()
    r = httpx.post(server.url + "/predict?explain=true", json={"grid": grid}, timeout=60)
    assert r.status_code == 200
    body = r.json()
    assert body["class"] == plain["class"] and body["saliency"]["method"] == "gradcam"
    m = np.asarray(body["saliency"]["map"])
    assert m.shape == (28, 28) and m.min() >= 0 and m.max() == pytest.approx(1.0)
    batch = httpx.post(server.url + "/predict/batch?explain=1", json={"grids": [grid, np.zeros((28, 28)).tolist()]},
                       timeout=60).json()["results"]
    assert [np.asarray(b["saliency"]["map"]).shape for b in batch] == [(28, 28)] * 2
    assert "saliency" not in plain


@pytest.mark.parametrize("make, status, message", [
    (lambda: png_header_only(100_000, 100_000), 413, "expected at most 10,000 pixels, received a decompression bomb"),
    (lambda: png(101, 100), 413, "expected at most 10,000 pixels, received 100x101"),
    (lambda: png_header_only(0, 5), 422, "x.png"),
    (lambda: b"II*\x00" + b"\0" * 200, 415, "expected PNG, JPEG, BMP content"),
    (lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n" + b"0" * 100, 415, "expected PNG, JPEG, BMP content"),
    (lambda: b"\x89PNG\r\n\x1a\n" + b"broken" * 20, 422, "expected a valid PNG image"),
])
def test_hostile_images(server, make, status, message):
    r = httpx.post(server.url + "/predict", files={"file": ("x.png", make())})
    assert r.status_code == status and message in r.json()["detail"]
    assert httpx.get(server.url + "/health").status_code == 200       # the worker is alive


@pytest.mark.parametrize("payload, message", [
    ({"grid": [[1, 2], [3, 4]]}, "expected shape (28, 28, 1), received (2, 2)"),
    ({"grid": np.zeros((28, 28, 3)).tolist()}, "expected shape (28, 28, 1), received (28, 28, 3)"),
    ({"grid": [["a"] * 28] * 28}, "expected numbers of shape (28, 28, 1)"),
    ({"grid": [[float("nan")] * 28] * 28}, "expected finite numbers"),
    ({"pixels": []}, 'expected {"grid": [[...]]} of shape (28, 28, 1)'),
])
def test_wrong_json_is_422_with_the_expected_shape(server, payload, message):
    r = httpx.post(server.url + "/predict", content=__import__("json").dumps(payload).replace("NaN", "NaN"),
                   headers={"content-type": "application/json"})
    assert r.status_code == 422 and message in r.json()["detail"]


def test_upload_over_the_size_cap(server):
    r = httpx.post(server.url + "/predict", files={"file": ("big.png", b"\x89PNG\r\n\x1a\n" + b"0" * 300_000)})
    assert r.status_code == 413 and "at most 200,000 bytes" in r.json()["detail"]

    def chunks():   # no Content-Length: the limit must hold while streaming
        for _ in range(50):
            yield b"0" * 10_000
    r = httpx.post(server.url + "/predict", content=chunks(), headers={"content-type": "application/octet-stream"})
    assert r.status_code == 413


def test_thousands_of_multipart_fields(server):
    fields = {f"f{i}": "x" for i in range(3000)}
    r = httpx.post(server.url + "/predict", data=fields, files={"file": ("x.png", png())})
    assert r.status_code in (400, 413)
    assert httpx.get(server.url + "/health").status_code == 200


def _wait_for(condition, what: str, bound: float = 60.0):
    """Poll until ``condition()`` holds; ``bound`` is a limit for slow machines, not a timing assumption."""
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {bound:.0f} s")
        time.sleep(0.02)


def test_over_the_concurrency_limit_gets_fast_503(served_run):
    """Two requests fill the limit and are held in a long batch window; a third, sent once /health shows both in
    flight, is refused at once: its 503 arrives while the first two are still held (no clock is read: /health
    says they are still in flight after the refusal)."""
    window = 5.0
    s = Server(served_run, "serve_max_concurrent=2", f"serve_batch_window_ms={window * 1000:g}", "serve_max_batch=64")
    try:
        def one(_):
            return httpx.post(s.url + "/predict", json={"grid": np.zeros((28, 28)).tolist()}, timeout=60)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            held = [pool.submit(one, i) for i in range(2)]
            _wait_for(lambda: httpx.get(s.url + "/health").json()["in_flight"] == 2, "two requests in flight")
            refused = one(2)
            still_held = httpx.get(s.url + "/health").json()["in_flight"]
            codes = [f.result().status_code for f in held]
        assert refused.status_code == 503 and "over 2 requests in flight" in refused.json()["detail"]
        assert refused.headers["retry-after"] == "1"
        assert still_held == 2          # refused while both held requests were still in flight, not after them
        assert codes == [200, 200]
    finally:
        s.stop()


def test_prediction_past_the_timeout_gets_504(served_run):
    s = Server(served_run, "serve_timeout=0.001", "serve_batch_window_ms=50")
    try:
        r = httpx.post(s.url + "/predict", json={"grid": np.zeros((28, 28)).tolist()}, timeout=30)
        assert r.status_code == 504 and "took over 0.001 s" in r.json()["detail"]
        assert httpx.get(s.url + "/health").status_code == 200
    finally:
        s.stop()


def test_requests_arriving_together_share_batches(served_run):
    """With a window far longer than any machine needs to send 8 requests, the batch closes when it is full
    (serve_max_batch=8): all 8 requests are answered by one prediction."""
    s = Server(served_run, "serve_batch_window_ms=60000", "serve_max_batch=8", "serve_timeout=120")
    try:
        def one(i):
            return httpx.post(s.url + "/predict", json={"grid": np.full((28, 28), i).tolist()}, timeout=120)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(one, range(8)))
        health = httpx.get(s.url + "/health").json()
        assert [r.status_code for r in answers] == [200] * 8
        assert health["examples"] == 8 and health["batches"] == 1
        assert len({tuple(r.json()["probabilities"].values()) for r in answers}) > 1   # each got its own row
    finally:
        s.stop()


def test_sensor_grid_model_takes_frames_and_refuses_images(tmp_path):
    """A sensor-grid model answers a frame file and a JSON grid; an image gets 415 (it holds no sensor values),
    the same rule as `gridlab predict`."""
    import gridlab
    from tests.conftest import write_grid_set

    frames = write_grid_set(tmp_path / "grids", n_per_class=(12, 6))
    run = gridlab.train(data=str(frames), grid_skip_rows=2, model="seed003_mlp", epochs=1, batch=4,
                        project=str(tmp_path / "runs"), verbose=False, report=False).folder
    s = Server(run)
    try:
        frame = next((frames / "face").rglob("*.txt"))
        r = httpx.post(s.url + "/predict", files={"file": ("f.txt", frame.read_bytes())}, timeout=30)
        assert r.status_code == 200 and r.json()["class"] in ("face", "other")
        assert httpx.post(s.url + "/predict", json={"grid": np.full((6, 5), 30.0).tolist()}, timeout=30).is_success
        png = io.BytesIO()
        Image.fromarray(np.zeros((6, 5), np.uint8)).save(png, format="PNG")
        r = httpx.post(s.url + "/predict", files={"file": ("f.png", png.getvalue())}, timeout=30)
        assert r.status_code == 415 and "received a PNG image" in r.json()["detail"]
    finally:
        s.stop()
