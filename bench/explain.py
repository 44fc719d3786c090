"""Saliency and the label audit on Fashion-MNIST: what they cost, whether the maps depend on the model, and how
well the audit finds labels flipped on purpose.

Run:  .venv/bin/python bench/explain.py [--folds 4]      (about 6 minutes on 2 cores)
1. Flips the labels of a known 2% of the 60,000 training images (each to another class, seed 0) and trains
   `preset=fast` on that noisy set (the test split keeps its true labels).
2. The audit: the validation split (what training writes) and k-fold cross-validation over every training image
   (`gridlab audit RUN --folds K`). For each: precision and recall of the top N suspects against the flipped
   labels among the audited images (N = how many of them were flipped; a random ranking scores 2%), and of
   every suspect it reports.
3. Saliency cost per image (ms) for each method and model, timed after a warm-up on 256 test images (64 for
   integrated gradients).
4. The model-randomization check (Adebayo et al. 2018): mean Spearman rank correlation between the trained
   model's maps and those of the same model with fresh random weights, 64 test images; near 1 means the method
   does not depend on the model (an edge detector scores 1.0).
5. Report time with and without saliency and the audit gallery.
Writes the section "explain" of docs/benchmarks.md and docs/explain-fashion.png, docs/suspects-fashion.png.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import _bench  # noqa: E402,F401  (the project root on sys.path; the shared helpers)

DOCS = Path(__file__).resolve().parents[1] / "docs"
SHARE = 0.02


def noisy_fashion(folder: Path):
    """Fashion-MNIST with SHARE of the training labels changed to another class; (npz path, flipped positions)."""
    import numpy as np

    from gridlab.sources.catalog import load_idx_set

    x, y, xt, yt, names, _ = load_idx_set("fashion-mnist")
    rng = np.random.default_rng(0)
    flipped = rng.choice(len(y), size=int(SHARE * len(y)), replace=False)
    y = y.astype(np.int64).copy()
    y[flipped] = (y[flipped] + rng.integers(1, 10, len(flipped))) % 10
    path = folder / "fashion-mnist-noisy.npz"
    np.savez(path, x=x, y=y, x_test=xt, y_test=yt, class_names=np.asarray(names))
    return path, set(flipped.tolist())


def quality(rows, audited: set, flipped: set) -> dict:
    """Precision and recall of the top N (N = flipped among the audited) and of every suspect."""
    truth = flipped & audited
    n = len(truth)
    top = {r["index"] for r in rows[:n]}
    every = {r["index"] for r in rows}
    return {"audited": len(audited), "flipped": n, "suspects": len(rows),
            "top_precision": len(top & truth) / max(len(top), 1), "top_recall": len(top & truth) / max(n, 1),
            "all_precision": len(every & truth) / max(len(every), 1), "all_recall": len(every & truth) / max(n, 1)}


def rank_correlation(a, b) -> float:
    import numpy as np
    from scipy.stats import spearmanr

    return float(np.mean([spearmanr(m.ravel(), n.ravel())[0] if m.std() > 0 and n.std() > 0 else 0.0
                          for m, n in zip(a, b)]))


def cost_ms(model, x, classes, method) -> float:
    from gridlab.prediction.saliency import explain

    explain(model, x[:8], classes[:8], method)          # warm-up: traces and kernels
    start = time.perf_counter()
    explain(model, x, classes, method)
    return (time.perf_counter() - start) / len(x) * 1000


def main() -> int:
    import keras
    import numpy as np
    from _bench import machine, write_section

    import gridlab
    from gridlab.evaluation import rebuild_report, run_dataset
    from gridlab.evaluation.explain import Explanation
    from gridlab.hardware import read_cpu
    from gridlab.models import build_model
    from gridlab.prediction import Predictor
    from gridlab.prediction.saliency import explain
    from gridlab.training.crossval import audit

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=4)
    args = parser.parse_args()
    cpu = read_cpu()
    print(f"CPU: {cpu.kind}, {cpu.cores} cores", flush=True)
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data, flipped = noisy_fashion(Path(tmp))
        started = time.perf_counter()
        run = gridlab.train(data=str(data), preset="fast", project=tmp, name="noisy", verbose=False)
        print(f"preset=fast on noisy labels: test accuracy {run.metrics['accuracy']:.4f} "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
        dataset = run_dataset(Predictor(run.folder))       # the run's own splits (preset=fast: 10% validation)
        val = quality(audit(run.folder).rows, set(dataset.val_index.tolist()), flipped)
        started = time.perf_counter()
        folds = audit(run.folder, folds=args.folds, progress=lambda m: print(m, flush=True))
        folds_s = time.perf_counter() - started
        everything = set(np.concatenate([dataset.train_index, dataset.val_index]).tolist())
        kfold = quality(folds.rows, everything, flipped)
        for name, q in (("validation split", val), (f"{args.folds}-fold", kfold)):
            print(f"audit, {name}: {q}", flush=True)

        predictor = Predictor(run.folder)
        x = dataset.x_test[:256]
        classes = predictor.decide(predictor.predict_arrays(x))
        scaling = {"kind": "divide255", "scale": 1 / 255, "offset": 0.0}
        costs = []
        for name, model in (("gridlab_fast (trained, preset=fast)", predictor.model),
                            ("seed001_cnn", build_model("seed001_cnn", (28, 28, 1), 10, scaling, "uint8")),
                            ("seed003_mlp", build_model("seed003_mlp", (28, 28, 1), 10, scaling, "uint8"))):
            for method in ("gradcam", "occlusion", "integrated_gradients"):
                if method == "gradcam" and name.startswith("seed003"):
                    continue
                n = 64 if method == "integrated_gradients" else 256
                costs.append((name, method, cost_ms(model, x[:n], classes[:n], method)))
                print(f"saliency cost, {name}, {method}: {costs[-1][2]:.2f} ms/image", flush=True)

        checks = []
        randomized = keras.models.clone_model(predictor.model)
        for method in ("gradcam", "occlusion", "integrated_gradients"):
            trained = explain(predictor.model, x[:64], classes[:64], method).maps
            fresh = explain(randomized, x[:64], classes[:64], method).maps
            checks.append((method, rank_correlation(trained, fresh)))
            print(f"randomization check, {method}: {checks[-1][1]:.3f}", flush=True)

        timings = {}
        for method in ("none", "auto"):
            from gridlab.evaluation.report import write_report

            started = time.perf_counter()
            write_report(run.folder, predictor.model, dataset, predictor.predict_arrays(dataset.x_test),
                         explain_method=method)
            timings[method] = time.perf_counter() - started
        print(f"report: {timings}", flush=True)

        s = explain(predictor.model, x[:16], classes[:16])
        Explanation(x[:16], s.maps, s.classes, s.method, "image", dataset.class_names).save(
            DOCS / "explain-fashion.png")
        rebuild_report(run.folder)
        shutil.copy(run.folder / "suspects.png", DOCS / "suspects-fashion.png")
        shutil.copy(run.folder / "saliency.png", DOCS / "saliency-fashion.png")
        accuracy = run.metrics["accuracy"]
    total = (time.perf_counter() - wall) / 60

    def audit_row(name, q, seconds=""):
        return (f"| {name} | {q['audited']:,} | {q['flipped']:,} | {q['top_precision']:.3f} | {q['top_recall']:.3f} | "
                f"{q['suspects']:,} | {q['all_precision']:.3f} | {q['all_recall']:.3f} | {seconds} |")

    write_section("explain", f"## Saliency and the label audit (`bench/explain.py`)\n\n"
                  f"Measured on: {machine()}; CPU {cpu.kind}.\n"
                  f"Command: `.venv/bin/python bench/explain.py --folds {args.folds}` ({total:.1f} min). Fashion-MNIST "
                  f"with the labels of {SHARE:.0%} of the 60,000 training images changed to another class (seed 0, "
                  f"{len(flipped):,} labels); `preset=fast` trained on it reaches {accuracy:.4f} test accuracy (the "
                  "test labels are the true ones).\n\n"
                  "Audit against the flipped labels. N = the flipped labels among the audited images; a random "
                  f"ranking has precision {SHARE:.0%} at any N.\n\n"
                  "| audit | images audited | flipped among them (N) | precision of the top N | recall of the top N "
                  "| suspects reported | precision of all | recall of all | seconds |\n"
                  "|---|---|---|---|---|---|---|---|---|\n"
                  + audit_row("validation split (what training writes)", val) + "\n"
                  + audit_row(f"{args.folds}-fold cross-validation (`gridlab audit RUN --folds {args.folds}`)", kfold,
                              f"{folds_s:.0f}") + "\n\n"
                  "Saliency cost per image (after a warm-up; 256 test images, 64 for integrated gradients with 32 "
                  "steps):\n\n| model | method | ms per image |\n|---|---|---|\n"
                  + "\n".join(f"| {m} | {meth} | {ms:.2f} |" for m, meth, ms in costs) + "\n\n"
                  "Model-randomization check (Adebayo et al. 2018) on the trained `preset=fast` model: mean Spearman "
                  "rank correlation of its maps with the maps of the same model with fresh random weights (64 test "
                  "images). A method that explains the model scores well below 1; an edge detector scores 1.0.\n\n"
                  "| method | rank correlation, trained vs randomized |\n|---|---|\n"
                  + "\n".join(f"| {m} | {r:.3f} |" for m, r in checks) + "\n\n"
                  f"Report writing on this run: {timings['none']:.1f} s with `explain_method=none`, "
                  f"{timings['auto']:.1f} s with saliency (Grad-CAM of the mistake gallery and of "
                  f"16 correct test images per class): +{timings['auto'] - timings['none']:.1f} s (the suspects "
                  "gallery is drawn in both).\n\n"
                  "![saliency](explain-fashion.png)\n\n![what each class looks at](saliency-fashion.png)\n\n"
                  "![suspect labels](suspects-fashion.png)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
