"""Serving speed of the seed 001 CNN on Fashion-MNIST (loopback only, bounded in count and time).

Run:  .venv/bin/python bench/serve.py [RUN]     (without RUN: trains seed001_cnn on Fashion-MNIST for 1 epoch)
      .venv/bin/python bench/serve.py --metrics [RUN]     (only the /metrics overhead)
      .venv/bin/python bench/serve.py --ood [RUN]         (only the OOD score's cost per request)
Prints single-image latency p50/p99 for Keras and ONNX Runtime, images/s of batch prediction on 10,000 test images,
and requests/s with p50/p99 latency at concurrency 1, 8 and 32 against a running `gridlab serve`. Writes
docs/benchmarks.md (section "serve"). Client and server share the machine's cores.

Then the cost of watching: two servers of the same run, one with ``serve_metrics=false`` and one with /metrics
scraped every second (as Prometheus would, by a thread parsing each scrape), loaded in turn (A B A B ...) at
concurrency 8; the median requests/s of each and their ratio go to docs/benchmarks.md (section "serve-metrics").
"""
from __future__ import annotations

import asyncio
import io
import shutil
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run, *overrides) -> tuple[subprocess.Popen, str]:
    """``gridlab serve RUN`` on a free loopback port, once /health answers: (process, base URL)."""
    import httpx

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "gridlab", "serve", str(run), "--port", str(port), *overrides],
                              env=_bench.child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError(f"gridlab serve {run} did not answer /health in 120 s")


def measure(url, body, concurrency, seconds=5):
    return wrk_load(url, body, concurrency, seconds) or asyncio.run(load(url, body, concurrency, 200 * seconds))


def in_turn(urls: dict, body: bytes, rounds: int, concurrency: int, what: str, after_warm_up=lambda: None) -> dict:
    """Requests/s of each server in ``urls`` ({label: base URL}), posting ``body`` to /predict: a 2 s warm-up each,
    ``after_warm_up()``, then ``rounds`` rounds of 5 s each, the order alternating from round to round."""
    for url in urls.values():
        measure(url + "/predict", body, concurrency, 2)
    after_warm_up()
    rates = {label: [] for label in urls}
    for r in range(rounds):
        for label in list(urls)[::1 if r % 2 == 0 else -1]:
            rps, p50, p99, codes = measure(urls[label] + "/predict", body, concurrency)
            rates[label].append(rps)
            print(f"round {r + 1}: {label} {what}: {rps:,.0f} requests/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
                  f"{codes}", flush=True)
    return rates


def metrics_overhead(run, body: bytes, rounds: int = 5, concurrency: int = 8):
    """Median requests/s without /metrics and with /metrics scraped every second, measured in turn."""
    import threading

    import httpx
    import numpy as np
    from prometheus_client.parser import text_string_to_metric_families

    plain, plain_url = start_server(run, "serve_metrics=false")
    watched, watched_url = start_server(run, "serve_metrics=true")
    stop, scrapes = threading.Event(), []

    def scraper():
        while not stop.wait(1.0):
            text = httpx.get(watched_url + "/metrics", timeout=5).text
            scrapes.append(sum(1 for _ in text_string_to_metric_families(text)))

    try:
        thread = threading.Thread(target=scraper, daemon=True)
        rates = in_turn({"without": plain_url, "with": watched_url}, body, rounds, concurrency, "/metrics",
                        after_warm_up=thread.start)
        stop.set()
        thread.join(5)
    finally:
        for server in (plain, watched):
            server.terminate()
            server.wait(10)
    without, with_ = float(np.median(rates["without"])), float(np.median(rates["with"]))
    return without, with_, len(scrapes), rates


def ood_overhead(run, body: bytes, rounds: int = 5, concurrency: int = 8):
    """Median requests/s of the run's server without its OOD score (a copy of the run folder without ``ood.npz``,
    as ``ood=none`` leaves it) and with it, measured in turn."""
    import numpy as np

    from gridlab import runs

    bare = Path(tempfile.mkdtemp(prefix="gridlab-serve-bench-")) / run.name
    shutil.copytree(run, bare)
    (bare / runs.OOD).unlink()
    servers = {"without": start_server(bare), "with": start_server(run)}
    try:
        rates = in_turn({label: url for label, (_, url) in servers.items()}, body, rounds, concurrency,
                        "the OOD score")
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(10)
        shutil.rmtree(bare.parent, ignore_errors=True)
    return float(np.median(rates["without"])), float(np.median(rates["with"])), rates


def write_metrics_section(without, with_, scrapes, rates, rounds, client, model):
    from _bench import machine, write_section

    write_section("serve-metrics", "## Serving with /metrics scraped (`bench/serve.py --metrics`)\n\n"
                  f"Measured on: {machine()}. Two servers of the same run ({model}, ONNX Runtime), loaded in "
                  f"turn at concurrency 8 for 5 s each, {rounds} rounds (order alternating); the second has "
                  f"`serve_metrics=true` and its /metrics scraped and parsed every second ({scrapes} scrapes). Load "
                  f"client: {client}. Target: throughput within 5% of the server without /metrics.\n\n"
                  "| server | median requests/s | each round |\n|---|---|---|\n"
                  f"| serve_metrics=false | {without:,.0f} | {', '.join(f'{r:,.0f}' for r in rates['without'])} |\n"
                  f"| serve_metrics=true, scraped every 1 s | {with_:,.0f} | "
                  f"{', '.join(f'{r:,.0f}' for r in rates['with'])} |\n"
                  f"| ratio | {with_ / without:.3f} | |")


def main() -> int:
    from _bench import machine, write_section
    from PIL import Image

    import gridlab
    from gridlab.evaluation import run_dataset
    from gridlab.export import export, export_path
    from gridlab.prediction import Predictor
    from gridlab.runtimes import load_runner

    args = [a for a in sys.argv[1:] if a not in ("--metrics", "--ood")]
    tmp = tempfile.mkdtemp(prefix="gridlab-serve-bench-")
    run = Path(args[0]) if args else gridlab.train(
        data="fashion-mnist", model="seed001_cnn", epochs=1, project=tmp, report=False, verbose=False).folder
    if not export_path(run, "onnx").is_file():
        export(run, "onnx")
    if "--ood" in sys.argv:
        from _bench import machine, write_section

        keras_p = Predictor(run, "keras")
        buf = io.BytesIO()
        Image.fromarray(run_dataset(keras_p).x_test[0][..., 0]).save(buf, format="PNG")
        without, with_, rates = ood_overhead(run, buf.getvalue())
        client = "wrk (C)" if shutil.which("wrk") else "httpx (Python)"
        print(f"median requests/s: without the OOD score {without:,.0f}, with it {with_:,.0f} "
              f"({without / with_ - 1:+.1%} time per request)", flush=True)
        write_section("serve-ood", "## Serving with and without the OOD score (`bench/serve.py --ood`)\n\n"
                      f"Measured on: {machine()}. Two servers of the same run ({keras_p.info.model} on {run.name}, "
                      "ONNX Runtime), one from a copy of the run folder without `ood.npz` (as `ood=none` leaves "
                      "it), loaded in turn with one 28x28 PNG per request at concurrency 8 for 5 s each, "
                      f"{len(rates['with'])} rounds (order alternating). Load client: {client}.\n\n"
                      "| server | median requests/s | each round |\n|---|---|---|\n"
                      f"| without the OOD score | {without:,.0f} | "
                      f"{', '.join(f'{r:,.0f}' for r in rates['without'])} |\n"
                      f"| with it (the default) | {with_:,.0f} | {', '.join(f'{r:,.0f}' for r in rates['with'])} |\n"
                      f"| time per request | {without / with_ - 1:+.1%} | |")
        return 0
    if "--metrics" in sys.argv:
        keras_p = Predictor(run, "keras")
        buf = io.BytesIO()
        Image.fromarray(run_dataset(keras_p).x_test[0][..., 0]).save(buf, format="PNG")
        client = "wrk (C)" if shutil.which("wrk") else "httpx (Python)"
        without, with_, scrapes, rates = metrics_overhead(run, buf.getvalue())
        print(f"median requests/s: without /metrics {without:,.0f}, with /metrics scraped every 1 s {with_:,.0f} "
              f"(ratio {with_ / without:.3f}; {scrapes} scrapes)", flush=True)
        write_metrics_section(without, with_, scrapes, rates, len(rates["with"]), client,
                              f"{keras_p.info.model} on {run.name}")
        return 0
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

    server, url = start_server(run)
    try:
        buf = io.BytesIO()
        Image.fromarray(x[0][..., 0]).save(buf, format="PNG")
        server_rows = []
        client = "wrk (C)" if wrk_load(f"{url}/predict", buf.getvalue(), 1, 1) else "httpx (Python)"
        print(f"load client: {client}", flush=True)
        for concurrency in (1, 8, 32):
            measured = wrk_load(f"{url}/predict", buf.getvalue(), concurrency)
            rps, p50, p99, codes = measured or asyncio.run(load(f"{url}/predict",
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
