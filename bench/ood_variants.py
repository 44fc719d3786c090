"""Variants of the default OOD score (`ensemble`): what the input summary's parts, the kernel density and the bank
size buy on the probe sets, against the default before them (the channel statistics of the input and of every
convolutional stage, with the k-th neighbour's distance); and what each costs per 10,000 arrays, through Keras and
ONNX Runtime.

Run:  .venv/bin/python bench/ood_variants.py   (about 6 minutes on a 2-core machine)

Trains the same three runs as bench/ood.py (the `fast` preset on Fashion-MNIST and on 8 of its classes; gridlab_cnn
on a generated thermal set), fits every variant as `ensemble` is fitted (training-split statistics, its parts
standardised and the threshold set on the validation split), prints AUROC / FPR at 95% TPR per probe set, times the
scoring models, and writes docs/benchmarks.md (section "ood-variants"). The figures of record for the default are
bench/ood.py's (section "ood").
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import _bench  # noqa: F401  (the project root on sys.path)
import numpy as np
from ood import PROBE_N, far, near, thermal

# name: (the features, ``ensemble``'s neighbour part, the bank size, the density's temperature). The features:
# "summary" is gridlab's (``ood.SUMMARY``), "blocks" its block means without their deviation, "first" the summary
# first tried here (the input's mean and deviation, the mean absolute difference of neighbouring values along rows
# and columns, the block means; in numpy), "stages" the statistics of the input and of every convolutional stage
# (the default before the summary)
VARIANTS = {
    "ensemble (default)": ("summary", "kde", 128, 0.05),
    "a bank of 500": ("summary", "kde", 500, 0.05),
    "a temperature of 0.1": ("summary", "kde", 128, 0.1),
    "k-th neighbour instead of the density": ("summary", "knn", 128, 0.05),
    "block means only": ("blocks", "kde", 128, 0.05),
    "the summary first tried": ("first", "kde", 128, 0.05),
    "stage statistics, k-th neighbour (the default before)": ("stages", "knn", 500, 0.05),
}
TIMED = ("ensemble (default)", "a bank of 500", "k-th neighbour instead of the density",
         "stage statistics, k-th neighbour (the default before)")


def conv_stages(model) -> list[str]:
    """What the default before the summary extended the features with: the input (``ood.INPUT``), then the first
    map at each lower spatial resolution, in layer order (one per convolutional stage)."""
    from gridlab.prediction import ood

    names, seen = [ood.INPUT], {tuple(model.inputs[0].shape[1:3])}
    for layer in model.layers:
        shape = tuple(getattr(layer.output, "shape", ()))
        if len(shape) == 4 and shape[1:3] not in seen:
            seen.add(shape[1:3])
            names.append(layer.name)
    return names


def first_summary(x: np.ndarray) -> np.ndarray:
    """The summary first tried: the input's mean and deviation, the mean absolute difference of neighbouring values
    along rows and along columns, and its 7x7 block means (one channel)."""
    from gridlab.prediction import ood

    x = np.asarray(x, np.float64).reshape(len(x), x.shape[1], x.shape[2])
    n, h, w = x.shape
    flat = x.reshape(n, -1)
    bh, bw = max(1, h // ood.GRID), max(1, w // ood.GRID)
    blocks = x[:, :bh * (h // bh), :bw * (w // bw)].reshape(n, h // bh, bh, w // bw, bw).mean(axis=(2, 4))
    return np.c_[flat.mean(axis=1), flat.std(axis=1), np.abs(np.diff(flat, axis=1)).mean(axis=1),
                 np.abs(flat[:, w:] - flat[:, :-w]).mean(axis=1), blocks.reshape(n, -1)]


def fitted(inputs: dict) -> dict:
    """{variant: (detector, {set: scores})}, every variant fitted on the run in ``inputs`` (bench/ood.py's)."""
    from gridlab.datasets import feed
    from gridlab.prediction import ood

    p, raw = inputs["predictor"], inputs["raw"]
    model, y, w, b = p.model, inputs["y_train"], inputs["w"], inputs["b"]
    stages = {"summary": ood.model_stages(model), "stages": conv_stages(model)}
    h = {}
    for kind, names in stages.items():
        features = ood.feature_model(model, names)[0]
        h[kind] = {k: np.asarray(feed.predict(features, v, 512)[1], np.float64) for k, v in raw.items()}
    channels = int(model.inputs[0].shape[-1])
    h["blocks"] = {k: v[:, :-channels] for k, v in h["summary"].items()}       # without the deviations' logs
    h["first"] = {k: np.c_[v[:, :len(w)], first_summary(raw[k])] for k, v in h["summary"].items()}
    out = {}
    for name, (kind, density, bank, tau) in VARIANTS.items():
        det = ood.fit("ensemble", h[kind]["train"], y, h[kind]["val"], w, b, stages=stages.get(kind, ()),
                      density=density, tau=tau, bank=bank)
        out[name] = det, {k: det.score(v) for k, v in h[kind].items()}
    return out


def table(inputs: dict) -> tuple[dict, dict]:
    """({probe: {variant: {"auroc", "fpr"}}}, the fitted variants)."""
    from gridlab.prediction import ood

    variants = fitted(inputs)
    out = {}
    for name, (_, scores) in variants.items():
        for probe in inputs["h_probes"]:
            out.setdefault(probe, {})[name] = {"auroc": ood.auroc(scores["in"], scores[probe]),
                                               "fpr": ood.fpr_at_tpr(scores["in"], scores[probe])}
    return out, variants


def cost(run, variants: dict, tmp) -> list[str]:
    """Time per 10,000 Fashion-MNIST test arrays of the plain model and of each timed variant's scoring model
    (probabilities and score in one pass), through Keras and ONNX Runtime: blocks of 5 calls of one model, 3 blocks
    each, in turn, the best call; two rounds, one after another."""
    from _bench import in_blocks

    from gridlab.datasets import feed
    from gridlab.evaluation import run_dataset
    from gridlab.export import _write_model, metadata
    from gridlab.prediction import Predictor, ood
    from gridlab.runtimes import load_runner

    p = Predictor(run.folder)
    x = run_dataset(p).x_test[:10000]
    models = {"plain": p.model, **{name: ood.scoring_model(p.model, variants[name][0]) for name in TIMED}}
    calls = {}
    for name, model in models.items():
        calls[("keras", name)] = lambda model=model: feed.predict(model, x)
        path = Path(tmp) / f"variant-{len(calls)}.onnx"
        _write_model(model, "onnx", path, metadata(p.info), x[:1])
        calls[("onnx", name)] = lambda r=load_runner("onnx", path, all_outputs=True): r(x)
    rounds = [in_blocks(calls) for _ in range(2)]
    rows = []
    for runtime in ("keras", "onnx"):
        for name in models:
            cells = []
            for times in rounds:
                best, plain = min(times[(runtime, name)]), min(times[(runtime, "plain")])
                cells.append(f"{best * 1e3:.0f} ms" if name == "plain" else f"{best / plain - 1:+.1%}")
            rows.append(f"| {runtime} | {name} | " + " | ".join(cells) + " |")
            print(rows[-1], flush=True)
    return rows


def markdown(title: str, found: dict) -> list[str]:
    names = list(VARIANTS)
    lines = [f"**{title}** (AUROC / FPR at 95% TPR)", "", "| probe set | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    for probe, row in found.items():
        lines.append(f"| {probe} | " + " | ".join(f"{row[n]['auroc']:.4f} / {row[n]['fpr']:.1%}" for n in names)
                     + " |")
    worst = {n: min(row[n]["auroc"] for row in found.values()) for n in names}
    lines.append("| **worst** | " + " | ".join(f"**{worst[n]:.4f}**" for n in names) + " |")
    return lines + [""]


def main() -> int:
    from _bench import machine, write_section

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        (far_table, far_variants), far_run = far(tmp, score=table)
        print(*markdown("far", far_table), sep="\n", flush=True)
        near_table, _ = near(tmp, score=table)
        print(*markdown("near", near_table), sep="\n", flush=True)
        thermal_table, _ = thermal(tmp, sys.argv[1] if len(sys.argv) > 1 else None, score=table)
        print(*markdown("thermal", thermal_table), sep="\n", flush=True)
        costs = cost(far_run, far_variants, tmp)
    wall = time.perf_counter() - started
    text = ["## Variants of the OOD score (`bench/ood_variants.py`)", "",
            f"Measured on: {machine()}. Command: `.venv/bin/python bench/ood_variants.py` ({wall:.0f} s). The same "
            f"three runs as `bench/ood.py`, {PROBE_N:,} examples per side; each variant fitted as `ensemble` is "
            "(training-split statistics, its parts standardised and the threshold set on the validation split). "
            "The input summary: per channel the input's means over a 7x7 grid of blocks and the log of their "
            "deviation. The summary first tried: the input's mean and deviation, the mean absolute difference of "
            "neighbouring values along rows and columns, and the block means. The default before the summary "
            "extended the features with the channel means and deviations of the input and of every convolutional "
            "stage (16 and 48 channels deep in the `fast` model), and took the k-th neighbour's distance in a bank "
            "of 500.", "",
            *markdown("far-OOD, `fast` preset on Fashion-MNIST", far_table),
            *markdown("near-OOD, `fast` preset on 8 Fashion-MNIST classes", near_table),
            *markdown("thermal glitch frames, gridlab_cnn on the synthetic thermal set", thermal_table),
            "**Cost per 10,000 Fashion-MNIST test arrays** (`fast` preset; the best of 15 calls in blocks of 5 "
            "calls of one model, against plain prediction; two rounds one after another)", "",
            "| runtime | model | round 1 | round 2 |", "|---|---|---|---|", *costs]
    write_section("ood-variants", "\n".join(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
