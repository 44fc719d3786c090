"""Run directories: ``<project>/<name>/`` holding everything one training run produced.

Files: ``config.yaml`` (resolved config), ``run.json`` (what prediction needs: classes, input, scaling, threshold,
counts, timings), ``model.keras`` (best checkpoint), ``last.keras`` + ``state.json`` (resume point),
``history.csv``, ``metrics.json``, ``curves.png``, ``summary.txt``, ``data_report.csv``, ``report.html``/``.md``.
An existing name is never overwritten: a new run gets ``name-2``, ``name-3``, … unless ``exist_ok``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import RunError
from ..files import write_json


def default_name(config) -> str:
    data = Path(str(config.data)).name if config.data != "auto" else "auto"
    model = Path(str(config.model)).stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{data}-{model}")


def is_unfinished(folder: Path) -> bool:
    """A run that saved a resume point but never wrote its metrics (killed or stopped)."""
    return (folder / "state.json").is_file() and not (folder / "metrics.json").is_file()


def choose_run_dir(config) -> tuple[Path, bool]:
    """The folder for this run (not created yet) and whether it resumes an unfinished one.

    A run resumes when ``resume=true`` or when the same ``name`` is given again for a run that never finished.
    """
    base = Path(config.project)
    name = config.name or default_name(config)
    folder = base / name
    if config.resume or (config.name and folder.is_dir() and is_unfinished(folder)):
        if not is_unfinished(folder):
            if config.resume:
                raise RunError(f"{folder}: nothing to resume (no state.json, or the run finished). "
                               "Drop resume=true to start a new run.")
        else:
            return folder, True
    if folder.exists() and not config.exist_ok:
        n = 2
        while (base / f"{name}-{n}").exists():
            n += 1
        folder = base / f"{name}-{n}"
    return folder, False


def find_run(run: str | Path) -> Path:
    """Accept a run folder path or a bare run name under ``runs/``."""
    path = Path(run)
    for candidate in (path, Path("runs") / path):
        if (candidate / "run.json").is_file():
            return candidate
    raise RunError(f"{run}: not a finished run folder (no run.json). Pass a folder made by `gridlab train`, "
                   "for example runs/fashion-mnist-seed001_cnn.")


def read_run(folder: Path) -> dict:
    return json.loads((Path(folder) / "run.json").read_text(encoding="utf-8"))


def write_run(folder: Path, info: dict) -> None:
    write_json(Path(folder) / "run.json", info)


def write_data_report(folder: Path, dataset) -> None:
    """``data_report.csv``: examples per class and split, then every file left out with its reason (``skipped``:
    unreadable under on_bad_file=skip; ``ignored``: not data, such as a notes.txt among images)."""
    import csv
    import io

    from ..files import write_text

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["kind", "class", "train", "val", "test", "path", "reason"])
    counts = dataset.counts()
    for i, name in enumerate(dataset.class_names):
        w.writerow(["count", name, counts["train"][i], counts["val"][i], counts["test"][i], "", ""])
    for path, reason in dataset.skipped:
        w.writerow(["skipped", "", "", "", "", path, reason])
    for path, reason in dataset.ignored:
        w.writerow(["ignored", "", "", "", "", path, reason])
    write_text(Path(folder) / "data_report.csv", buf.getvalue())
