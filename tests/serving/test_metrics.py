"""``GET /metrics`` against the real server, parsed by prometheus_client's own parser: each counter moves by exactly
the requests sent; and the JSON access log of a server started with serve_access_log=true."""
import io
import json

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import Server
from .test_server import png

# one worker runs the serving tests (pytest-xdist): the trained run and the server are built once
pytestmark = pytest.mark.xdist_group("serving")


def scrape(server) -> dict:
    """{(sample name, sorted label items): value} of one scrape."""
    r = httpx.get(server.url + "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def moved(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def summed(samples: dict, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def test_counters_move_by_exactly_the_requests_sent(server):
    before = scrape(server)
    answers = [httpx.post(server.url + "/predict", files={"file": ("x.png", png(value=v))}).json()
               for v in (0, 120, 250)]
    rng = np.random.default_rng(0)
    noise = httpx.post(server.url + "/predict", json={"grid": rng.uniform(0, 255, (28, 28)).tolist()}).json()
    answers.append(noise)
    corrupt = b"\x89PNG\r\n\x1a\n" + b"not an image"
    batch = httpx.post(server.url + "/predict/batch", files=[("file", ("a.png", png())), ("file", ("b.png", corrupt)),
                                                            ("file", ("c.png", png(value=9)))]).json()
    assert batch["failed"] == 1
    answers += [row for row in batch["results"] if row["class"] is not None]
    assert httpx.post(server.url + "/predict", content=b"GIF89a......",
                      headers={"content-type": "image/gif"}).status_code == 415
    assert httpx.post(server.url + "/predict", content=b"\0" * 300_000,
                      headers={"content-type": "application/octet-stream"}).status_code == 413
    assert httpx.get(server.url + "/no-such-page").status_code == 404
    after = scrape(server)

    assert moved(before, after, "gridlab_requests_total", endpoint="/predict", status="200") == 4
    assert moved(before, after, "gridlab_requests_total", endpoint="/predict/batch", status="200") == 1
    assert moved(before, after, "gridlab_requests_total", endpoint="/predict", status="415") == 1
    assert moved(before, after, "gridlab_requests_total", endpoint="/predict", status="413") == 1
    assert moved(before, after, "gridlab_requests_total", endpoint="other", status="404") == 1
    assert moved(before, after, "gridlab_request_seconds_count", endpoint="/predict") == 6
    assert moved(before, after, "gridlab_refused_inputs_total", reason="unsupported") == 1
    assert moved(before, after, "gridlab_refused_inputs_total", reason="too_large") == 1
    assert moved(before, after, "gridlab_refused_inputs_total", reason="unreadable") == 1
    # 4 single predictions and one batch of 2 readable files: 5 model calls of 6 examples in all
    assert moved(before, after, "gridlab_batch_size_count") == 5
    assert moved(before, after, "gridlab_batch_size_sum") == 6
    for name in {a["class"] for a in answers}:
        assert moved(before, after, "gridlab_predictions_total", **{"class": name}) == \
            sum(a["class"] == name for a in answers)
        assert moved(before, after, "gridlab_ood_total", **{"class": name}) == \
            sum(a["class"] == name and a["ood"] for a in answers)
    assert summed(after, "gridlab_predictions_total") - summed(before, "gridlab_predictions_total") == 6
    assert noise["ood"] is True and summed(after, "gridlab_ood_total") > summed(before, "gridlab_ood_total")
    info = next(dict(labels) for (n, labels), _ in after.items() if n == "gridlab_model_info")
    card = httpx.get(server.url + "/model").json()
    assert info["model"] == noise["model"] == card["model"] and info["runtime"] == "onnx"
    assert info["ood"] == card["ood"]["method"] != "none"
    assert info["classes"] == str(len(card["classes"])) and info["input_shape"] == "28x28x1"


def test_access_log_and_metrics_off(served_run):
    server = Server(served_run, "serve_access_log=true", "serve_metrics=false")
    try:
        assert httpx.get(server.url + "/metrics").status_code == 404
        buf = io.BytesIO()
        np.save(buf, np.zeros((28, 28), np.uint8))
        assert httpx.post(server.url + "/predict", files={"file": ("x.npy", buf.getvalue())}).status_code == 200
    finally:
        server.stop()
    lines = [json.loads(line) for line in (served_run.parent / f"server-{server.port}.log").read_text().splitlines()
             if line.startswith("{")]
    assert [(e["method"], e["path"], e["status"]) for e in lines][-2:] == [("GET", "/metrics", 404),
                                                                          ("POST", "/predict", 200)]
    assert all(e["ms"] > 0 and e["client"] == "127.0.0.1" for e in lines)
