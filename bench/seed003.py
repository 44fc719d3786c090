"""Seed 003's walk from a linear model to an MLP, reproduced on Fashion-MNIST, one command per experiment.

Run:  .venv/bin/python bench/seed003.py [baseline|optimizers|dropout|all]      (all: about 6 minutes on 2 cores)

- baseline: the seed's SGDClassifier(loss='log', max_iter=5, random_state=42) scored by 5-fold cross_validate on
  the flattened /255 training pixels (the notes: 0.8196); scikit-learn's logistic regression as a gridlab model;
  the seed's Dense(10, softmax), Dense(100, sigmoid) and Dense(100, relu) networks, RMSprop, 5 epochs.
- optimizers: the ReLU MLP with SGD, Adagrad, RMSprop and Adam, 5 epochs each, validation curves overlaid.
- dropout: the ReLU MLP with Adam for 20 epochs, without and with Dropout(0.3), training and validation loss drawn
  together: the gap between them (overfitting) is what dropout narrows.
Every network run is `gridlab train data=fashion-mnist ...` with the seed's 80/20 split, batch 32 and no early
stopping; the curves are `gridlab compare` pages. Writes docs/seeds.md sections and docs/seed003-*.png.
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import _bench  # noqa: E402,F401  (the project root on sys.path; the shared helpers)

DOCS = Path(__file__).resolve().parents[1] / "docs"
SEED = {"data": "fashion-mnist", "val_split": 0.2, "batch": 32, "patience": 0, "report": False, "verbose": False}
OPTIMIZERS = (("sgd", 0.01), ("adagrad", 0.001), ("rmsprop", 0.001), ("adam", 0.001))   # Keras' default rates


def _command(overrides: dict) -> str:
    return "gridlab train " + " ".join(f"{k}={v}" for k, v in overrides.items() if k not in ("report", "verbose"))


def _train(project: Path, name: str, **overrides):
    import gridlab

    started = time.perf_counter()
    run = gridlab.train(project=str(project), name=name, exist_ok=True, **SEED, **overrides)
    last = run.info.epochs_run
    history = __import__("gridlab.runs", fromlist=["read_history"]).read_history(run.folder)
    print(f"{name}: val accuracy {history[-1]['val_accuracy']:.4f} after {last} epochs, test accuracy "
          f"{run.metrics['accuracy']:.4f}, {run.info.parameters:,} parameters, {time.perf_counter() - started:.0f} s",
          flush=True)
    return run, history


def _write(name: str, text: str) -> None:
    import re

    from gridlab.files import write_text

    doc_path = DOCS / "seeds.md"
    doc = doc_path.read_text() if doc_path.exists() else "# The seeds, reproduced\n"
    block = f"<!-- {name}:start -->\n{text.rstrip()}\n<!-- {name}:end -->"
    pattern = re.compile(rf"<!-- {name}:start -->.*?<!-- {name}:end -->", re.S)
    doc = pattern.sub(lambda _: block, doc) if pattern.search(doc) else doc.rstrip() + "\n\n" + block + "\n"
    write_text(doc_path, doc)


def baseline(project: Path) -> None:
    import numpy as np
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import cross_validate

    from gridlab.sources.catalog import load_idx_set

    x, y, *_ = load_idx_set("fashion-mnist")
    started = time.perf_counter()
    scores = cross_validate(SGDClassifier(loss="log_loss", max_iter=5, random_state=42),
                            x.reshape(len(x), -1) / 255.0, y, n_jobs=-1)
    cv, cv_seconds = float(np.mean(scores["test_score"])), time.perf_counter() - started
    print(f"SGDClassifier 5-fold cross_validate: {cv:.4f} ({cv_seconds:.0f} s)", flush=True)
    rows = [f"| SGDClassifier(loss='log', max_iter=5), 5-fold `cross_validate` on the 60,000 training images | – | "
            f"0.8196 (mean of 5 folds) | {cv:.4f} (mean of 5 folds: "
            + ", ".join(f"{s:.4f}" for s in scores["test_score"]) + ") | `python bench/seed003.py baseline` |"]
    runs = [("sklearn_logistic", {"model": "sklearn_logistic"}, "–"),
            ("seed003_linear", {"model": "seed003_linear", "optimizer": "rmsprop", "epochs": 5}, "0.8469"),
            ("seed003_sigmoid", {"model": "seed003_sigmoid", "optimizer": "rmsprop", "epochs": 5}, "–"),
            ("seed003_mlp", {"model": "seed003_mlp", "optimizer": "rmsprop", "epochs": 5}, "–")]
    for name, overrides, seed_value in runs:
        run, history = _train(project, name, **overrides)
        rows.append(f"| {name} ({run.info.parameters:,} parameters) | {overrides.get('epochs', '–')} | "
                    f"validation accuracy {seed_value} | validation accuracy {history[-1]['val_accuracy']:.4f}, "
                    f"test accuracy {run.metrics['accuracy']:.4f} | `{_command({**SEED, **overrides})}` |")
    _write("seed003-baseline", "### Seed 003: from a linear model to an MLP\n\n"
           "Fashion-MNIST, the seed's 80/20 split of the training images (48,000 / 12,000), batch 32, RMSprop "
           "(Keras' default rate) as the notes compile it. `sklearn_logistic` is scikit-learn's "
           "LogisticRegression fitted on the same split and served as a gridlab model.\n\n"
           "| model | epochs | seed 003's notes | gridlab | command |\n|---|---|---|---|---|\n" + "\n".join(rows))


def _compare_page(project: Path, names, png: str, title: str) -> Path:
    from gridlab.evaluation.compare import compare

    _, page = compare([project / n for n in names], project / f"{png}.html")
    shutil.copyfile(page.with_suffix(".png"), DOCS / f"{png}.png")
    print(f"{title}: {page} (curves also in docs/{png}.png)", flush=True)
    return page


def optimizers(project: Path) -> None:
    rows, names = [], []
    for optimizer, lr in OPTIMIZERS:
        overrides = {"model": "seed003_mlp", "optimizer": optimizer, "lr": lr, "epochs": 5}
        run, history = _train(project, f"mlp-{optimizer}", **overrides)
        names.append(f"mlp-{optimizer}")
        best = min(history, key=lambda h: h["val_loss"])
        rows.append(f"| {optimizer} (lr {lr}) | {history[-1]['val_accuracy']:.4f} | {history[-1]['val_loss']:.4f} | "
                    f"{int(best['epoch'])} | {run.metrics['accuracy']:.4f} | `{_command({**SEED, **overrides})}` |")
    _compare_page(project, names, "seed003-optimizers", "optimizers")
    _write("seed003-optimizers", "### Seed 003: optimizers side by side\n\n"
           "The ReLU MLP (`seed003_mlp`, 79,510 parameters), 5 epochs each at Keras' default rate of each optimizer "
           "(gridlab's SGD adds momentum 0.9). Overlaid validation curves: `docs/seed003-optimizers.png`, drawn by "
           "`gridlab compare` over the four runs.\n\n"
           "| optimizer | validation accuracy (epoch 5) | validation loss (epoch 5) | best epoch by validation loss | "
           "test accuracy | command |\n|---|---|---|---|---|---|\n" + "\n".join(rows)
           + "\n\n![validation loss and accuracy per epoch for four optimizers](seed003-optimizers.png)")


def _train_and_validation_figure(histories: dict, png: str) -> None:
    """Loss and accuracy per epoch, training dashed and validation solid, one colour per run."""
    from gridlab.evaluation.plots import figure, integer_ticks, save_png

    fig = figure(figsize=(11, 4))
    axes = fig.subplots(1, 2)
    for colour, (name, history) in zip(("C0", "C1"), histories.items()):
        epochs = [h["epoch"] for h in history]
        for ax, key in zip(axes, ("loss", "accuracy")):
            ax.plot(epochs, [h[key] for h in history], "--", color=colour, label=f"{name}, training")
            ax.plot(epochs, [h[f"val_{key}"] for h in history], "o-", color=colour, ms=3, label=f"{name}, validation")
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.set(xlabel="epoch", ylabel=key, title=f"{key.capitalize()}: training (dashed) and validation")
        integer_ticks(ax.xaxis)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    save_png(fig, DOCS / f"{png}.png")


def dropout(project: Path) -> None:
    rows, histories, said = [], {}, []
    for name, extra in (("mlp-no-dropout", {}), ("mlp-dropout-0.3", {"dropout": 0.3})):
        overrides = {"model": "seed003_mlp", "optimizer": "adam", "epochs": 20, **extra}
        run, history = _train(project, name, **overrides)
        histories[name] = history
        best = min(history, key=lambda h: h["val_loss"])
        last = history[-1]
        rows.append(f"| {name} | {int(best['epoch'])} ({best['val_loss']:.4f}) | {last['val_loss']:.4f} | "
                    f"{last['loss']:.4f} | {last['val_loss'] - last['loss']:.4f} | {run.metrics['accuracy']:.4f} | "
                    f"`{_command({**SEED, **overrides})}` |")
        said.append(f"{'without' if not extra else 'with'} dropout the validation loss is lowest at epoch "
                    f"{int(best['epoch'])} ({best['val_loss']:.4f}) and {last['val_loss']:.4f} at epoch 20, the "
                    f"training loss {last['loss']:.4f}")
    _train_and_validation_figure(histories, "seed003-dropout")
    print("dropout: docs/seed003-dropout.png", flush=True)
    _write("seed003-dropout", "### Seed 003: overfitting and dropout\n\n"
           "The ReLU MLP with Adam for 20 epochs, no early stopping, without and with Dropout(0.3) after the hidden "
           f"layer. Measured: {said[0]}; {said[1]}. The gap between training and validation loss is what dropout "
           "narrows. (gridlab's saved model is the best epoch's by validation loss, so the test accuracy is that "
           "epoch's.)\n\n"
           "| run | best epoch (validation loss) | validation loss at epoch 20 | training loss at epoch 20 | gap | "
           "test accuracy | command |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows)
           + "\n\n![loss and accuracy per epoch, training dashed and validation solid, with and without dropout]"
           "(seed003-dropout.png)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", nargs="?", default="all", choices=("baseline", "optimizers", "dropout", "all"))
    parser.add_argument("--project", default="runs/seed003", help="where the runs are written (default runs/seed003)")
    args = parser.parse_args()
    project = Path(args.project)
    started = time.perf_counter()
    for part in (("baseline", "optimizers", "dropout") if args.part == "all" else (args.part,)):
        {"baseline": baseline, "optimizers": optimizers, "dropout": dropout}[part](project)
    print(f"{args.part}: {(time.perf_counter() - started) / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
