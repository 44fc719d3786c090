"""Serving speed of the seed 001 CNN on Fashion-MNIST (loopback only, bounded in count and time).

Run:  .venv/bin/python bench/serve.py [RUN]     (without RUN: trains seed001_cnn on Fashion-MNIST for 1 epoch)
Prints single-image latency p50/p99 for Keras and ONNX Runtime, images/s of batch prediction on 10,000 test images,
and requests/s with p50/p99 latency at concurrency 1, 8 and 32 against a running `gridlab serve`. Writes
docs/benchmarks.md (section "serve"). Client and server share the machine's cores.
"""
from __future__ import annotations

import asyncio
import io
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bench  # noqa: E402,F401  (the project root on sys.path; the shared helpers)


def percentiles(times_s):
    import numpy as np

    ms = np.asarray(times_s) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def latency(run_one, x, n=300):
    for i in range(20):
        run_one(x[i:i + 1])
    times = []
    for i in range(n):
        start = time.perf_counter()
        run_one(x[i % len(x):i % len(x) + 1])
        times.append(time.perf_counter() - start)
    return percentiles(times)


def throughput(run_batch, x, batch=1000, passes=3):
    """Median images/s over ``passes`` passes through ``x`` (single passes are noisy on shared machines)."""
    import numpy as np

    run_batch(x[:batch])
    rates = []
    for _ in range(passes):
        start = time.perf_counter()
        for i in range(0, len(x), batch):
            run_batch(x[i:i + batch])
        rates.append(len(x) / (time.perf_counter() - start))
    return float(np.median(rates))


async def load(url, body, concurrency, total):
    import httpx

    times = []
    codes = {}

    async def worker(client, count):
        for _ in range(count):
            start = time.perf_counter()
            r = await client.post(url, content=body, headers={"content-type": "image/png"})
            times.append(time.perf_counter() - start)
            codes[r.status_code] = codes.get(r.status_code, 0) + 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await worker(client, 10)  # warm-up
        times.clear()
        codes.clear()
        start = time.perf_counter()
        await asyncio.gather(*[worker(client, total // concurrency) for _ in range(concurrency)])
        wall = time.perf_counter() - start
    p50, p99 = percentiles(times)
    return len(times) / wall, p50, p99, codes


def wrk_load(url, body: bytes, concurrency: int, seconds: int = 5):
    """requests/s, p50 and p99 (ms) from Debian's wrk (a C load generator), or None when wrk is missing."""
    import re
    import shutil

    if not shutil.which("wrk"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "body.bin").write_bytes(body)
        script = Path(tmp) / "post.lua"
        script.write_text(f'local f = io.open("{tmp}/body.bin", "rb")\nwrk.method = "POST"\n'
                          'wrk.body = f:read("*all")\nwrk.headers["Content-Type"] = "image/png"\nf:close()\n')
        out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", str(script),
                              url], capture_output=True, text=True, timeout=seconds + 30).stdout

    def ms(label):
        m = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        return float(m[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m[2]]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]), ms("50"), ms("99"),
            {"non-2xx": int(errors[1]) if errors else 0})


def main() -> int:
    from _bench import machine, write_section
    from PIL import Image

    import gridlab
    from gridlab.evaluation import run_dataset
    from gridlab.export import export, export_path
    from gridlab.export.runtimes import load_runner
    from gridlab.prediction import Predictor

    tmp = tempfile.mkdtemp(prefix="gridlab-serve-bench-")
    run = Path(sys.argv[1]) if len(sys.argv) > 1 else gridlab.train(
        data="fashion-mnist", model="seed001_cnn", epochs=1, project=tmp, report=False, verbose=False).folder
    if not export_path(run, "onnx").is_file():
        export(run, "onnx")
    keras_p = Predictor(run, "keras")
    x = run_dataset(keras_p).x_test[:10000]
    onnx_run = load_runner("onnx", export_path(run, "onnx"))
    model = keras_p.model
    rows = []
    p = latency(lambda b: model(b, training=False), x)
    rows.append(("single image, Keras model(x) call", *p))
    p = latency(lambda b: model.predict(b, verbose=0), x, n=100)
    rows.append(("single image, Keras model.predict", *p))
    p = latency(onnx_run, x)
    rows.append(("single image, ONNX Runtime", *p))
    keras_ips = throughput(lambda b: model.predict(b, batch_size=1000, verbose=0), x)
    onnx_ips = throughput(onnx_run, x)
    for label, p50, p99 in rows:
        print(f"{label}: p50 {p50:.3f} ms, p99 {p99:.3f} ms", flush=True)
    print(f"batch prediction, 10,000 images: Keras {keras_ips:,.0f} images/s, ONNX Runtime {onnx_ips:,.0f} "
          f"images/s ({onnx_ips / keras_ips:.1f}x)", flush=True)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = _bench.child_env()
    server = subprocess.Popen([sys.executable, "-m", "gridlab", "serve", str(run), "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        buf = io.BytesIO()
        Image.fromarray(x[0][..., 0]).save(buf, format="PNG")
        server_rows = []
        client = "wrk (C)" if wrk_load(f"http://127.0.0.1:{port}/predict", buf.getvalue(), 1, 1) else "httpx (Python)"
        print(f"load client: {client}", flush=True)
        for concurrency in (1, 8, 32):
            measured = wrk_load(f"http://127.0.0.1:{port}/predict", buf.getvalue(), concurrency)
            rps, p50, p99, codes = measured or asyncio.run(load(f"http://127.0.0.1:{port}/predict",
                                                                 buf.getvalue(), concurrency, 1600))
            server_rows.append((concurrency, rps, p50, p99, codes))
            print(f"server, concurrency {concurrency}: {rps:,.0f} requests/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
                  f"status codes {codes}", flush=True)
    finally:
        server.terminate()
        server.wait(10)
    table = ["| measurement | p50 ms | p99 ms |", "|---|---|---|"]
    table += [f"| {label} | {p50:.3f} | {p99:.3f} |" for label, p50, p99 in rows]
    table += ["", "| batch prediction of 10,000 test images | images/s |", "|---|---|",
              f"| Keras model.predict (batch 1000, median of 3 passes) | {keras_ips:,.0f} |",
              f"| ONNX Runtime (batch 1000, median of 3 passes) | {onnx_ips:,.0f} "
              f"({onnx_ips / keras_ips:.1f}x Keras) |",
              "",
              f"| server (POST /predict, 28x28 PNG upload, ONNX Runtime; load client {client}) | requests/s | p50 ms "
              "| p99 ms | errors |",
              "|---|---|---|---|---|"]
    table += [f"| concurrency {c} | {rps:,.0f} | {p50:.1f} | {p99:.1f} | {codes} |"
              for c, rps, p50, p99, codes in server_rows]
    write_section("serve", "## Serving (`bench/serve.py`)\n\n"
                  f"Measured on: {machine()}. Model: seed 001 CNN (333,526 parameters) on Fashion-MNIST test images."
                  "\nCommand: `.venv/bin/python bench/serve.py`. Targets: ONNX batch-1 p50 <= 1 ms; batch >= 15,000 "
                  "images/s; server >= 500 requests/s at concurrency 8 with p99 <= 50 ms. The load client runs on "
                  "the same 2 cores as the server; with Debian's `wrk` installed (`apt-get install wrk`) it is used, "
                  "else a Python httpx client, which itself limits the figures to about 400 requests/s here.\n\n"
                  + "\n".join(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
