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


def test_over_the_concurrency_limit_gets_fast_503(served_run):
    s = Server(served_run, "serve_max_concurrent=2", "serve_batch_window_ms=400", "serve_max_batch=64")
    try:
        def one(_):
            start = time.perf_counter()
            r = httpx.post(s.url + "/predict", json={"grid": np.zeros((28, 28)).tolist()}, timeout=30)
            return r.status_code, time.perf_counter() - start
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            results = list(pool.map(one, range(12)))
        codes = [c for c, _ in results]
        assert codes.count(200) >= 2 and codes.count(503) >= 1 and set(codes) <= {200, 503}
        assert max(t for c, t in results if c == 503) < 0.4     # refused at once, not after the batch window
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
    s = Server(served_run, "serve_batch_window_ms=150", "serve_max_batch=64")
    try:
        def one(i):
            return httpx.post(s.url + "/predict", json={"grid": np.full((28, 28), i).tolist()}, timeout=30)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            codes = [r.status_code for r in pool.map(one, range(8))]
        health = httpx.get(s.url + "/health").json()
        assert codes == [200] * 8 and health["examples"] == 8 and health["batches"] < 8
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
