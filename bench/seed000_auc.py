"""Seed 000's ROC-AUC call against the correct one, on the same trained model.

Seed 000 reported ROC AUC 99.64% from ``roc_auc_score(np.round(preds), y_test)``: the arguments are swapped
(rounded scores where the labels belong) and rounding throws away the ranking an AUC measures. MNIST is not
available offline here, so the seed 000 model is trained on digits and on Fashion-MNIST.

Run:  .venv/bin/python bench/seed000_auc.py        Writes docs/benchmarks.md (section "seed000-auc").
"""
from __future__ import annotations

import tempfile

import _bench  # noqa: E402,F401  (the project root on sys.path; the shared helpers)


def main() -> int:
    import numpy as np
    from _bench import machine, write_section
    from sklearn.metrics import roc_auc_score

    import gridlab
    from gridlab.evaluation import run_dataset
    from gridlab.prediction import Predictor

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for data, epochs in (("digits", 15), ("fashion-mnist", 3)):
            run = gridlab.train(data=data, model="seed000_cnn", epochs=epochs, batch=128, patience=0, project=tmp,
                                report=False, verbose=False)
            predictor = Predictor(run.folder)
            ds = run_dataset(predictor)
            preds = predictor.predict_arrays(ds.x_test)
            onehot = np.eye(ds.num_classes)[ds.y_test]
            seed_way = roc_auc_score(np.round(preds), onehot)
            correct = roc_auc_score(onehot, preds)
            rows.append((data, epochs, run.metrics["accuracy"], seed_way, correct, run.metrics["roc_auc_macro"]))
            print(f"{data}: accuracy {rows[-1][2]:.4f}; seed 000's call {seed_way:.4f}; correct call {correct:.4f} "
                  f"(gridlab's roc_auc_macro {rows[-1][5]:.4f})", flush=True)
    table = ["| data | epochs | test accuracy | seed 000's `roc_auc_score(np.round(preds), y_test)` | "
             "correct `roc_auc_score(y_test, preds)` | gridlab `roc_auc_macro` |", "|---|---|---|---|---|---|"]
    table += [f"| {r[0]} | {r[1]} | {r[2]:.4f} | {r[3]:.4f} | {r[4]:.4f} | {r[5]:.4f} |" for r in rows]
    write_section("seed000-auc", "## Seed 000's AUC (`bench/seed000_auc.py`)\n\n"
                  "Seed 000 computed `roc_auc_score(np.round(preds), y_test)`: the arguments are swapped (scores "
                  "where the true labels belong) and the scores are rounded to 0/1, which discards the ranking that "
                  "ROC-AUC measures. The figure it printed is not an AUC of the model. The correct call is "
                  "`roc_auc_score(y_test, preds)` with the probabilities (macro one-vs-rest); gridlab reports that "
                  "as `roc_auc_macro`, checked against scikit-learn and a pairwise reference in the tests. Same seed "
                  f"000 model, same predictions (MNIST is not available offline here).\nMeasured on: {machine()}. "
                  "Command: `.venv/bin/python bench/seed000_auc.py`\n\n" + "\n".join(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
