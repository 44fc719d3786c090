"""``bench/speed.py --gpu``: time to accuracy on an accelerator, every recipe on the same GPU in one run.

Rows, each in a process of its own, one after another:
- the seed 001 recipe (Keras on JAX, batch 32, Adam 1e-3, early stopping, as its notes train);
- gridlab ``preset=fast`` and ``preset=best`` (``device=gpu``);
- a plain PyTorch loop of the seed 001 CNN (the same layers, batch 32, Adam 1e-3, a DataLoader over the training
  tensors): what a user writes by hand, and the peer to beat.
Per row: images/s (steady epochs), training seconds to 91.6% / 93.5% / 94.0% test accuracy (test evaluation off the
clock), compile seconds (the first epoch's time less a steady epoch's), final test accuracy and the process's peak
GPU memory. With ``--cpu`` the same rows run on the CPU (JAX and PyTorch on the CPU) on a small share of the data,
to check the script end to end where no GPU is at hand; those figures are not GPU figures and are not written.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bench

TARGETS = (0.916, 0.935, 0.940)
RECIPES = {
    "seed": ("seed 001 CNN, seed recipe (Keras on JAX, fp32, batch 32, Adam, early stopping 2)",
             {"model": "seed001_cnn", "preset": "seed"}),
    "fast": ("gridlab preset=fast", {"preset": "fast"}),
    "best": ("gridlab preset=best", {"preset": "best"}),
    "torch": ("seed 001 CNN, plain PyTorch loop (fp32, batch 32, Adam, DataLoader)", {}),
}
CPU_LIMIT = 3000       # --cpu: training examples (the check that the script runs, not a measurement)


def _data(data_dir):
    from gridlab.sources.catalog import load_idx_set

    x, y, x_test, y_test, *_ = load_idx_set("fashion-mnist", data_dir)
    return x, y, x_test, y_test


def _first_at(curve, target):
    return next((t for t, a in curve if a >= target), None)


def keras_row(name: str, device: str, data_dir, cpu: bool) -> dict:
    """One gridlab/Keras recipe trained by ``gridlab.train`` on ``device``, with the test curve."""
    from gridlab import backend

    backend.use(device)
    sys.path.insert(0, str(Path(__file__).parent))
    from _curve import TestAccuracy

    import gridlab
    from gridlab.config import load_config

    label, overrides = RECIPES[name]
    overrides = dict(overrides, device=device)
    if cpu:
        overrides.update(limit=CPU_LIMIT, epochs=min(2, load_config(overrides).epochs))
    _, _, x_test, y_test = _data(data_dir)
    if cpu:
        x_test, y_test = x_test[:1000], y_test[:1000]
    probe = TestAccuracy(x_test[..., None], y_test, load_config(overrides).tta)
    with tempfile.TemporaryDirectory() as tmp:
        run = gridlab.train(data="fashion-mnist", data_dir=data_dir, project=tmp, report=False, audit=False,
                            verbose=False, callbacks=[probe], clock=probe.clock, **overrides)
    times = probe.epoch_times
    steady = sorted(times[1:])[len(times[1:]) // 2] if len(times) > 1 else times[0]
    n_train = sum(run.info.counts["train"])
    return {"label": label, "curve": probe.curve, "final": run.metrics["accuracy"], "epochs": len(times),
            "images_per_s": n_train / steady, "compile_s": max(0.0, times[0] - steady),
            "precision": run.info.precision, "peak_gpu_gib": _jax_peak_gib(),
            "device": backend.device_line(backend.chosen(), run.info.precision)}


def _jax_peak_gib():
    import jax

    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    stats = (gpus[0].memory_stats() or {}) if gpus else {}
    return round(stats.get("peak_bytes_in_use", 0) / 2**30, 3) if gpus else None


def torch_row(device: str, data_dir, cpu: bool, epochs: int = 15) -> dict:
    """The seed 001 CNN as a user writes it in PyTorch: a DataLoader over the training tensors, batch 32, Adam 1e-3,
    the model's test accuracy after each epoch; 80/20 split as the seed recipe; no early stopping (the curve
    shows when it reaches each target)."""
    import numpy as np
    import torch
    from torch import nn

    dev = torch.device("cuda" if device == "gpu" else "cpu")
    torch.manual_seed(42)
    x, y, x_test, y_test = _data(data_dir)
    n = int(len(x) * 0.8) if not cpu else CPU_LIMIT
    if cpu:
        x_test, y_test, epochs = x_test[:1000], y_test[:1000], 2
    train = torch.utils.data.TensorDataset(torch.tensor(x[:n, None], dtype=torch.float32) / 255,
                                           torch.tensor(y[:n], dtype=torch.long))
    loader = torch.utils.data.DataLoader(train, batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(64 * 7 * 7, 100), nn.ReLU(), nn.Dropout(0.4), nn.Linear(100, 10)).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    xt = torch.tensor(x_test[:, None], dtype=torch.float32, device=dev) / 255
    curve, times, clock = [], [], 0.0
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        for xb, yb in loader:
            xb, yb = xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        clock += times[-1]
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(xt[i:i + 2000]).argmax(1) for i in range(0, len(xt), 2000)]).cpu().numpy()
        curve.append((clock, float(np.mean(pred == y_test))))
    steady = sorted(times[1:])[len(times[1:]) // 2] if len(times) > 1 else times[0]
    peak = round(torch.cuda.max_memory_allocated() / 2**30, 3) if dev.type == "cuda" else None
    return {"label": RECIPES["torch"][0], "curve": curve, "final": curve[-1][1], "epochs": epochs,
            "images_per_s": n / steady, "compile_s": max(0.0, times[0] - steady), "precision": "float32",
            "peak_gpu_gib": peak, "device": f"device: {dev.type}, PyTorch {torch.__version__}"}


def child(name: str, device: str, data_dir, cpu: bool) -> int:
    row = torch_row(device, data_dir, cpu) if name == "torch" else keras_row(name, device, data_dir, cpu)
    print(json.dumps(row), flush=True)
    return 0


def run_all(data_dir: str | None, cpu: bool) -> list[dict]:
    """Every recipe in its own process (``child``), one after another; prints each row as it comes."""
    device = "cpu" if cpu else "gpu"
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    if cpu:
        env["JAX_PLATFORMS"] = "cpu"
    rows = []
    for name in RECIPES:
        code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import _gpu; "
                f"raise SystemExit(_gpu.child({name!r}, {device!r}, {data_dir!r}, {cpu!r}))")
        wall = time.perf_counter()
        with tempfile.TemporaryDirectory() as cache:     # an empty user cache: every row compiles as a first run
            out = subprocess.run([sys.executable, "-c", code],
                                 env={**env, "XDG_CACHE_HOME": cache,
                                      **({"KERAS_BACKEND": "jax"} if cpu and name != "torch" else {})},
                                 capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{name} failed:\n{out.stderr[-3000:]}", flush=True)
            continue
        row = _bench.last_line(out.stdout)
        row["wall_s"] = time.perf_counter() - wall
        row["reached"] = {f"{t:.1%}": _first_at(row["curve"], t) for t in TARGETS}
        rows.append(row)
        print(f"{row['label']}: " + ", ".join(f"{k} after {'%.1f s' % v if v else 'never'}"
                                              for k, v in row["reached"].items())
              + f"; final {row['final']:.4f}; {row['images_per_s']:,.0f} images/s; compile {row['compile_s']:.1f} s; "
              f"peak GPU memory {row['peak_gpu_gib']} GiB; {row['epochs']} epochs; wall {row['wall_s']:.0f} s\n  "
              f"{row['device']}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    """The markdown table, with ratios against the seed recipe and the PyTorch loop (time to 91.6%)."""
    by = {r["label"]: r for r in rows}
    seed, torch_ = by.get(RECIPES["seed"][0]), by.get(RECIPES["torch"][0])

    def ratio(base, r):
        a, b = (base or {}).get("reached", {}).get("91.6%"), r["reached"].get("91.6%")
        return f"{a / b:.1f}x" if a and b else "–"

    lines = ["| recipe | images/s | to 91.6% | to 93.5% | to 94.0% | compile s | final | peak GPU GiB | vs seed | "
             "vs PyTorch |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        reached = [f"{v:.1f} s" if v else "not reached" for v in r["reached"].values()]
        lines.append(f"| {r['label']} | {r['images_per_s']:,.0f} | " + " | ".join(reached)
                     + f" | {r['compile_s']:.1f} | {r['final']:.4f} | {r['peak_gpu_gib']} | {ratio(seed, r)} | "
                     f"{ratio(torch_, r)} |")
    return "\n".join(lines)
