"""The run folder: ``<project>/<name>/`` holding everything one training run produced. This module owns its layout;
every other module reads and writes a run through it, as typed objects.

Files: ``config.yaml`` (the resolved config a run can be rebuilt from), ``run.json`` (``RunInfo``: what prediction
needs, plus counts and timings), ``model.keras`` (best checkpoint), ``last.keras`` + ``state.json`` (resume point),
``history.csv`` (one row per epoch), ``metrics.json`` (test metrics), ``summary.txt``, ``data_report.csv``, the
plots and ``report.html``/``report.md``, and ``export/`` (exports, with ``export.json`` holding their parity checks).
An existing name is never overwritten: a new run gets ``name-2``, ``name-3``, … unless ``exist_ok``.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import html
import io
import json
import re
from pathlib import Path

import numpy as np

from .display import format_value, png_data_uri
from .errors import RunError
from .files import write_json, write_text

CONFIG, INFO, METRICS, HISTORY = "config.yaml", "run.json", "metrics.json", "history.csv"
MODEL, LAST, STATE, EXPORTS = "model.keras", "last.keras", "state.json", "export.json"
SUMMARY, DATA_REPORT, SUSPECTS, OOD = "summary.txt", "data_report.csv", "suspects.csv", "ood.npz"
REPORT, REPORT_MD, CURVES, CONFUSION = "report.html", "report.md", "curves.png", "confusion.png"
OOD_PLOT = "ood.png"
RESUME_FILES = (LAST, STATE)
EXPORT_SUFFIX = {"onnx": ".onnx", "litert": ".tflite", "saved_model": "", "keras": ".keras"}


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """``run.json``: what a finished run is (data, classes, input, model, decision rule, counts, timings)."""

    name: str
    data: str
    origin: str
    kind: str                          # "image" or "grid"
    class_names: list
    input_shape: list
    input_dtype: str                   # "uint8" or "float32"
    reader: dict                       # how to read one more example the same way (colour and size, grid rules)
    scaling: dict                      # {"kind", "scale", "offset", ...}, built into the model
    model: str
    parameters: int
    precision: str
    threshold: float | None = None     # binary tasks: the decision threshold on P(positive_class)
    threshold_rule: str | None = None
    positive_class: int | None = None
    counts: dict = dataclasses.field(default_factory=dict)   # {"train": [...], "val": [...], "test": [...]}
    test_origin: str = ""
    skipped_files: int = 0
    epochs_run: int = 0
    best_epoch: int | None = None
    monitor: str = "val_loss"
    stop_reason: str | None = None
    train_seconds: float = 0.0
    compile_seconds: float | None = None   # the first epoch's time less a later epoch's (tracing and compiling)
    test_predict_seconds: float = 0.0
    temperature: float | None = None   # calibration folded into the output layer (None: not calibrated)
    distributed: dict | None = None    # data-parallel training: processes, coordinator, per-process batch, weights
    versions: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> "RunInfo":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def positive(self) -> int:
        """The class the threshold is about (1 unless the run chose another)."""
        return self.positive_class if self.positive_class is not None else 1


# -- naming and finding runs -------------------------------------------------------------------------------------

def default_name(config) -> str:
    data = Path(str(config.data)).name if config.data != "auto" else "auto"
    model = Path(str(config.model)).stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{data}-{model}")


def is_unfinished(folder: Path) -> bool:
    """A run that saved a resume point but never wrote its metrics (killed or stopped)."""
    return (folder / STATE).is_file() and not (folder / METRICS).is_file()


def choose_run_dir(config) -> tuple[Path, bool]:
    """The folder for this run (not created yet) and whether it resumes an unfinished one.

    A run resumes when ``resume=true`` or when the same ``name`` is given again for a run that never finished.
    """
    base = Path(config.project)
    name = config.name or default_name(config)
    folder = base / name
    if config.resume or (config.name and folder.is_dir() and is_unfinished(folder)):
        if is_unfinished(folder):
            return folder, True
        if config.resume:
            raise RunError(f"{folder}: nothing to resume (no state.json, or the run finished). "
                           "Drop resume=true to start a new run.")
    if folder.exists() and not config.exist_ok:
        n = 2
        while (base / f"{name}-{n}").exists():
            n += 1
        folder = base / f"{name}-{n}"
    return folder, False


def find_run(run: "str | Path | Run", project: str | Path | None = None) -> Path:
    """A run folder path, or a bare run name under ``project`` (default: the ``project`` key's default, ``runs``), or
    the ``Run`` that ``gridlab.train`` or ``load_run`` returned: what every function taking a run accepts.

    Raises:
        RunError: no finished run (``run.json``) there.
    """
    path = run.folder if isinstance(run, Run) else Path(run)
    if project is None:
        from .config import SPECS

        project = SPECS["project"].default
    for candidate in (path, Path(project) / path):
        if (candidate / INFO).is_file():
            return candidate
    raise RunError(f"{run}: not a finished run folder (no run.json) here or in {project}/. Pass a folder made by "
                   f"`gridlab train`, for example {Path(project) / 'fashion-mnist-seed001_cnn'}.")


# -- reading and writing its files -------------------------------------------------------------------------------

def _read_json(path: Path):
    """A JSON file of the run folder; a damaged one (cut short, edited by hand) is a ``RunError`` naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: expected JSON, received text that is not (line {exc.lineno}: {exc.msg}). The run "
                       "folder is damaged: restore the file, or train the run again.") from None
    except UnicodeDecodeError:
        raise RunError(f"{path}: expected JSON, received bytes that are not UTF-8 text. The run folder is damaged: "
                       "restore the file, or train the run again.") from None


def read_info(folder: Path) -> RunInfo:
    path = Path(folder) / INFO
    doc = _read_json(path)
    try:
        return RunInfo.from_dict(doc)
    except (KeyError, TypeError, AttributeError):
        needed = [f.name for f in dataclasses.fields(RunInfo)
                  if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = [k for k in needed if not isinstance(doc, dict) or k not in doc]
        raise RunError(f"{path}: expected gridlab's run record, received JSON without "
                       f"{', '.join(missing) if missing else 'its fields in their types'}. The run folder is damaged: "
                       "restore the file, or train the run again.") from None


def write_info(folder: Path, info: RunInfo) -> None:
    write_json(Path(folder) / INFO, info.to_dict())


def read_metrics(folder: Path, name: str = METRICS) -> dict:
    return _read_json(Path(folder) / name)


def write_metrics(folder: Path, metrics: dict, data: str | None = None) -> Path:
    """``metrics.json`` for the run's own test split, ``evaluation-<data>.json`` for another data set."""
    path = Path(folder) / (METRICS if not data else f"evaluation-{Path(str(data)).name}.json")
    write_json(path, metrics)
    return path


def read_history(folder: Path) -> list[dict]:
    """``history.csv`` as one dict of floats per epoch (empty when there is none)."""
    path = Path(folder) / HISTORY
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(fh)]


def write_history(folder: Path, rows: list[dict]) -> None:
    if not rows:
        return
    keys = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    write_text(Path(folder) / HISTORY, buf.getvalue())


def read_state(folder: Path) -> dict:
    return _read_json(Path(folder) / STATE)


def write_state(folder: Path, state: dict) -> None:
    write_json(Path(folder) / STATE, state)


def remove_resume_files(folder: Path) -> None:
    for name in RESUME_FILES:
        (Path(folder) / name).unlink(missing_ok=True)


def saved_overrides(folder: Path) -> dict:
    """The run's resolved config as overrides that rebuild it (``preset`` left out: its values are all there)."""
    from .config import load_yaml

    saved = load_yaml((Path(folder) / CONFIG).read_text(encoding="utf-8"))
    return {k: v for k, v in saved.items() if k != "preset"}


def config_text(folder: Path) -> str:
    path = Path(folder) / CONFIG
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def write_ood(folder: Path, arrays: dict) -> None:
    """``ood.npz``: the fitted out-of-distribution score (``prediction.ood.Detector.arrays``), NumPy's own format."""
    from .files import write_bytes

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes(Path(folder) / OOD, buf.getvalue())


def read_ood(folder: Path) -> dict | None:
    """The arrays ``write_ood`` stored, or None for a run without them (trained before OOD scores, or ood=none)."""
    path = Path(folder) / OOD
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def ood_export_path(folder: Path) -> Path:
    """The ONNX export with two outputs, probabilities and penultimate features, that ONNX Runtime scores with."""
    return Path(folder) / "export" / "model-ood.onnx"


def export_path(folder: Path, fmt: str) -> Path:
    return Path(folder) / "export" / ("saved_model" if fmt == "saved_model" else f"model{EXPORT_SUFFIX[fmt]}")


def read_exports(folder: Path) -> dict:
    """``export.json``: the parity report of every export made, by format (empty when there is none)."""
    path = Path(folder) / EXPORTS
    return _read_json(path) if path.is_file() else {}


def record_export(folder: Path, fmt: str, report: dict) -> None:
    write_json(Path(folder) / EXPORTS, {**read_exports(folder), fmt: report})


def export_sources(folder: Path) -> dict:
    """The SHA-256 of the files an export is made from (``model.keras``, and ``ood.npz`` when the run has one): the
    export records them (``export.json``), so that an export older than the model it serves is found."""
    return {name: hashlib.sha256((Path(folder) / name).read_bytes()).hexdigest()
            for name in (MODEL, OOD) if (Path(folder) / name).is_file()}


def export_is_stale(folder: Path, fmt: str) -> bool:
    """Whether the run's export in ``fmt`` (at ``export_path``) was made from other files than the run holds now:
    the run was trained again into its folder (``exist_ok=true``) after the export. An export recorded without its
    sources (before gridlab recorded them, or last written elsewhere with ``--out``) counts as current."""
    record = read_exports(folder).get(fmt) or {}
    return "source" in record and record["source"] != export_sources(folder)


def write_data_report(folder: Path, dataset) -> None:
    """``data_report.csv``: examples per class and split, then every file left out with its reason (``skipped``:
    unreadable under on_bad_file=skip; ``ignored``: not data, such as a notes.txt among images)."""
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
    write_text(Path(folder) / DATA_REPORT, buf.getvalue())


# -- the handle: a finished run as the Python API hands it back ---------------------------------------------------

HEADLINE = (("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"), ("log_loss", "log loss"),
            ("ece", "ECE"), ("roc_auc_macro", "ROC-AUC (macro)"), ("examples", "test examples"))
STYLE = ("font-family:system-ui,sans-serif;border:1px solid #ddd;border-radius:6px;padding:10px 14px;"
         "max-width:900px")


def _metrics_table(metrics: dict) -> str:
    cells = "".join(f"<tr><th style='text-align:left;padding-right:12px'>{label}</th>"
                    f"<td style='text-align:right'>{format_value(metrics[key])}</td></tr>"
                    for key, label in HEADLINE if key in metrics)
    calibration = metrics.get("calibration")
    if calibration:
        cells += (f"<tr><th style='text-align:left;padding-right:12px'>calibration</th><td style='text-align:right'>"
                  f"T {calibration['temperature']:.3f}, ECE {calibration['ece_before']:.4f} -&gt; "
                  f"{calibration['ece_after']:.4f}</td></tr>")
    return f"<table>{cells}</table>"


def _image(path: Path, alt: str, width: int) -> str:
    return f"<img alt='{alt}' style='width:{width}px;margin:4px' src='{png_data_uri(path)}'>" if path.is_file() else ""


class Metrics(dict):
    """Test metrics (a plain dict, as written to metrics.json) that show their headline figures inline."""

    def _repr_html_(self) -> str:
        return f"<div style='{STYLE}'><b>gridlab metrics</b>{_metrics_table(self)}</div>"


class Run:
    """The handle of a finished run folder: ``folder``, ``info`` (its ``RunInfo``), ``metrics`` (the test metrics).
    It shows itself inline in a notebook (headline metrics, the training curves, the confusion matrix, a link to the
    report) and as one line in a terminal.

    >>> run = gridlab.load_run("runs/fashion-mnist-fast")      # doctest: +SKIP
    """

    def __init__(self, folder: Path, metrics: dict, info: RunInfo):
        self.folder, self.metrics, self.info = Path(folder), Metrics(metrics), info

    def __repr__(self):
        return f"Run({str(self.folder)!r}, accuracy={self.metrics.get('accuracy', float('nan')):.4f})"

    def _repr_html_(self) -> str:
        e = html.escape
        info = self.info
        report = self.folder / REPORT
        link = (f"<a href='{e(report.resolve().as_uri())}' target='_blank'>report.html</a>" if report.is_file()
                else "no report (report=false; <code>gridlab report</code> writes one)")
        return (f"<div style='{STYLE}'><b>gridlab run {e(info.name)}</b>: {e(info.model)} on {e(info.data)}, "
                f"{info.parameters:,} parameters, {info.epochs_run} epochs in {info.train_seconds:.1f} s "
                f"({e(info.precision)}); {link}<br><code>{e(str(self.folder))}</code>"
                f"{_metrics_table(self.metrics)}"
                f"{_image(self.folder / CURVES, 'training curves', 520)}"
                f"{_image(self.folder / CONFUSION, 'confusion matrix', 340)}</div>")


def load_run(run, project: str | Path | None = None) -> Run:
    """A finished run folder (or a name under ``project``, by default ``runs/``) as a ``Run``."""
    folder = find_run(run, project)
    return Run(folder, read_metrics(folder), read_info(folder))
