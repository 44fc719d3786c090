"""Which labels look wrong: confident learning (Northcutt et al. 2021) on out-of-sample probabilities.

Each class j gets a threshold t_j: the model's mean probability of j over the examples labelled j (how confident
the model is when it is right about j). An example labelled i whose probability of another class j reaches t_j
(and is the highest such class) counts as "confidently j": its label is a suspect, with j as the suggested label.
Suspects are ranked by self-confidence: the lower the probability of the given label, the more suspect (score =
1 - that probability).

The probabilities must come from a model that did not train on the example: the run's validation split (the
default, ``validation_audit``), or k-fold cross-validation over training and validation examples, which trains k
models with the run's own config and covers every training example (``training.crossval.audit``).
"""
from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import numpy as np

from ..files import write_text
from ..runs import SUSPECTS


def class_thresholds(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """t_j = mean P(j) over examples labelled j; classes without examples get infinity (never reached)."""
    k = proba.shape[1]
    return np.asarray([proba[y == j, j].mean() if np.any(y == j) else np.inf for j in range(k)])


def find_suspects(y: np.ndarray, proba: np.ndarray) -> dict:
    """Confident learning on labels ``y`` and out-of-sample ``proba`` (N, K).

    Returns ``order`` (positions of the suspects, most suspect first), ``suggested`` (N,) (the confident label, -1
    where no class reaches its threshold), ``score`` (N,) = 1 - P(given label), and ``thresholds`` (K,).

    >>> y = np.array([0, 0, 0, 1, 1, 1])
    >>> p = np.array([[.9, .1], [.8, .2], [.1, .9], [.2, .8], [.1, .9], [.3, .7]])
    >>> find_suspects(y, p)["order"].tolist()
    [2]
    """
    y = np.asarray(y, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    t = class_thresholds(y, proba)
    above = proba >= t[None, :]
    masked = np.where(above, proba, -1.0)
    suggested = np.where(above.any(axis=1), masked.argmax(axis=1), -1)
    score = 1.0 - proba[np.arange(len(y)), y]
    flagged = np.flatnonzero((suggested >= 0) & (suggested != y))
    order = flagged[np.argsort(-score[flagged], kind="stable")]
    return {"order": order, "suggested": suggested, "score": score, "thresholds": t}


@dataclasses.dataclass
class Audit:
    """The suspects of one audit: rows (dicts as written to ``suspects.csv``) and what was audited."""
    rows: list
    examples: int
    method: str
    thresholds: list
    suspects: Path | None = None       # suspects.csv, once written
    report: Path | None = None         # report.html, when the audit rebuilt it

    def _repr_html_(self) -> str:
        import html

        head = "".join(f"<th>{k}</th>" for k in ("rank", "example", "given", "suggested", "score"))
        body = "".join(f"<tr><td>{r['rank']}</td><td>{html.escape(r['example'])}</td><td>{html.escape(r['given'])}"
                       f"</td><td>{html.escape(r['suggested'])}</td><td>{r['score']:.3f}</td></tr>"
                       for r in self.rows[:50])
        return (f"<p>{len(self.rows):,} suspect label(s) among {self.examples:,} examples ({self.method})</p>"
                f"<table><tr>{head}</tr>{body}</table>")


def example_names(dataset, positions: np.ndarray) -> list[str]:
    """A name a person can find for each source-training position: the file path for folders, else
    ``train[i]`` (the position in the source's training arrays)."""
    files = dataset.files
    return [str(files[i]) if files is not None else f"train[{i}]" for i in np.asarray(positions).tolist()]


def audit_rows(dataset, positions, y, proba, splits) -> tuple[list, np.ndarray]:
    """The ``suspects.csv`` rows for examples at source-training ``positions`` with labels ``y`` and out-of-sample
    ``proba``; ``splits`` says where each probability came from. Also returns the thresholds."""
    found = find_suspects(y, proba)
    names = example_names(dataset, np.asarray(positions)[found["order"]])
    rows = []
    for rank, (i, name) in enumerate(zip(found["order"].tolist(), names), start=1):
        s = int(found["suggested"][i])
        rows.append({"rank": rank, "example": name, "index": int(positions[i]), "split": splits[i],
                     "given": dataset.class_names[int(y[i])], "suggested": dataset.class_names[s],
                     "given_probability": float(proba[i, int(y[i])]), "suggested_probability": float(proba[i, s]),
                     "score": float(found["score"][i])})
    return rows, found["thresholds"]


def write_suspects(folder: Path, rows: list) -> Path:
    """``suspects.csv`` in the run folder (atomically), most suspect first."""
    buf = io.StringIO()
    keys = ("rank", "example", "index", "split", "given", "suggested", "given_probability", "suggested_probability",
            "score")
    w = csv.writer(buf)
    w.writerow(keys)
    for r in rows:
        w.writerow([f"{r[k]:.6f}" if isinstance(r[k], float) else r[k] for k in keys])
    path = Path(folder) / SUSPECTS
    write_text(path, buf.getvalue())
    return path


def read_suspects(folder: Path) -> list[dict] | None:
    path = Path(folder) / SUSPECTS
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["rank"], r["index"] = int(r["rank"]), int(r["index"])
        for k in ("given_probability", "suggested_probability", "score"):
            r[k] = float(r[k])
    return rows


def suspect_images(dataset, rows) -> list[np.ndarray]:
    """The input of each suspect row, found by its position in the source's training arrays among the training
    and validation splits."""
    where = {int(p): (dataset.x_train, i) for i, p in enumerate(dataset.train_index)}
    where.update({int(p): (dataset.x_val, i) for i, p in enumerate(dataset.val_index)})
    blank = np.zeros(dataset.input_shape, dataset.x_train.dtype)
    return [where[r["index"]][0][where[r["index"]][1]] if r["index"] in where else blank for r in rows]


def validation_audit(dataset, val_proba: np.ndarray) -> Audit:
    """The audit of the validation split from the run's own predictions on it (out of sample: it never trained
    on them)."""
    rows, t = audit_rows(dataset, dataset.val_index, dataset.y_val, val_proba, ["val"] * len(dataset.y_val))
    return Audit(rows, len(dataset.y_val), "validation split", t.tolist())


def audit_validation(folder: Path, dataset, val_proba: np.ndarray) -> Audit:
    """``validation_audit`` written to the run folder's ``suspects.csv``: what training does after it fits, and
    ``gridlab audit RUN`` without folds."""
    result = validation_audit(dataset, val_proba)
    result.suspects = write_suspects(folder, result.rows)
    return result
