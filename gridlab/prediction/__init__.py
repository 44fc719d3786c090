"""Prediction from a finished run: files (PNG/JPEG/BMP images, ``.npy`` arrays, sensor-grid text frames) are read
exactly as the training data was (same colour mode, size, grid reading rules); the model applies its own scaling."""
from __future__ import annotations

import csv
import glob
import io
import os
from pathlib import Path

import numpy as np

from .. import runs
from ..config import SPECS, check_count
from ..datasets import feed
from ..errors import DataFormatError, RunError
from ..files import check_output_file, shown
from .decision import predict_labels
from .ood import Detector, split_scored

NOT_FINITE = "expected finite numbers, received NaN or infinity"


class Predictor:
    """A loaded run, ready to classify arrays or files.

    >>> p = Predictor("runs/digits-seed001_cnn")          # doctest: +SKIP
    >>> p.predict_files(["seven.png"])[0]["class"]
    '7'
    """

    def __init__(self, run, runtime: str = "keras"):
        self.folder = runs.find_run(run)
        self.info = runs.read_info(self.folder)
        self.runtime = runtime
        self._model = self._scoring = None
        arrays = runs.read_ood(self.folder)
        self.ood = Detector.from_arrays(arrays) if arrays is not None else None
        self._run_scored = None
        if runtime == "keras":
            self._run = lambda x: feed.predict(self.model, x)
            if self.ood is not None:
                self._run_scored = lambda x: feed.predict(self.scoring_model, x)
        elif runtime == "onnx":
            from ..runtimes import load_runner

            path = runs.export_path(self.folder, "onnx")
            if not path.is_file():
                raise RunError(f"{path}: no ONNX export yet. Run `gridlab export {self.folder} --format onnx` first.")
            if runs.export_is_stale(self.folder, "onnx"):
                raise RunError(f"{path}: exported from an earlier model.keras or ood.npz (the run was trained again "
                               f"after the export). Run `gridlab export {self.folder} --format onnx` again.")
            self._run = load_runner("onnx", path)
            scored = runs.ood_export_path(self.folder)
            if self.ood is not None and scored.is_file():
                self._run_scored = load_runner("onnx", scored, all_outputs=True)
        else:
            raise RunError(f"runtime {runtime!r} is not one of {', '.join(SPECS['serve_runtime'].choices)}.")
        self.class_names = self.info.class_names
        self.input_shape = tuple(self.info.input_shape)
        self.threshold = self.info.threshold
        self.positive = self.info.positive_class

    @property
    def ood_available(self) -> bool:
        """Whether predictions carry an OOD score: the run fitted one (runs trained before OOD scores, or with
        ood=none, did not) and the runtime can compute it (ONNX needs the export's ``model-ood.onnx``)."""
        return self._run_scored is not None

    @property
    def scoring_model(self):
        """The Keras model giving the probabilities and the run's OOD score (a last column) in one pass
        (``ood.scoring_model``)."""
        if self._scoring is None:
            from .ood import scoring_model

            self._scoring = scoring_model(self.model, self.ood)
        return self._scoring

    @property
    def model(self):
        """The Keras model (loaded safely on first use)."""
        if self._model is None:
            from ..models.io import load_model

            self._model = load_model(self.folder / runs.MODEL)
        return self._model

    # -- reading inputs -------------------------------------------------------------------------------------------
    def read_file(self, path: str | Path, data: bytes | None = None, max_pixels: int | None = None,
                  formats=("PNG", "JPEG", "BMP")) -> np.ndarray:
        """One input file (or its bytes) -> an array of ``input_shape`` (raw values; the model scales them): a
        ``.npy`` array, a sensor-grid frame read with the run's rules, or an image of ``formats`` with at most
        ``max_pixels`` pixels."""
        path = Path(path)
        if data is None:
            if path.is_dir():
                raise DataFormatError(path, "expected a file, received a folder with no files in it",
                                      "Check the path.")
            if not path.exists() and _is_pattern(path):
                raise DataFormatError(path, "expected files matching this pattern, found none",
                                      "Check the pattern (** matches folders at any depth).")
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise DataFormatError(path, f"cannot be read ({exc.strerror})", "Check the path.") from None
        if path.suffix.lower() == ".npy" or data[:6] == b"\x93NUMPY":
            try:
                array = np.load(io.BytesIO(data), allow_pickle=False)
            except ValueError as exc:
                raise DataFormatError(path, f"expected a .npy array without pickle, received {exc}",
                                      "Save with numpy.save.") from None
            size = int(np.prod(self.input_shape))
            if array.ndim > 1 and array.shape[0] > 1 and array.size == array.shape[0] * size:
                raise DataFormatError(path, f"expected one example of shape {tuple(self.input_shape)}, received a "
                                      f"stack of {array.shape[0]:,} {array.shape}",
                                      "Give one example per .npy file, or predict the whole stack in Python: "
                                      "gridlab.predict(run, numpy.load(path)).")
            return self.check_array(array, path)
        if self.info.kind == "grid":
            from ..sources.sensor_grid import GridFormat, parse_frame

            refusal = self.image_refusal(path, data)
            if refusal:
                raise DataFormatError(path, *refusal)

            fmt = GridFormat(**{k: (tuple(v) if isinstance(v, list) else v)
                                for k, v in self.info.reader["grid"].items()})
            return self.check_array(parse_frame(path, data, fmt), path)
        return self.decode_image(path, data, max_pixels, formats)

    def image_refusal(self, path, data: bytes) -> tuple[str, str] | None:
        """(problem, fix) when ``data`` is an image and this model reads sensor grids: an image holds colours, not
        the raw sensor values the model was trained on, so guessing values from it would give confident nonsense."""
        from ..sources.image_folder import sniff_format

        fmt = sniff_format(data[:8])
        if not fmt or self.info.kind != "grid":
            return None
        return (f"expected a sensor-grid text frame or a .npy array of raw values, received a {fmt} image",
                f"Send the frame file itself (or a .npy of shape {tuple(self.input_shape)}); images hold no sensor "
                "values.")

    def decode_image(self, path, data: bytes, max_pixels: int | None = None, formats=("PNG", "JPEG", "BMP")):
        """An image file's bytes -> this model's input: its colour mode and size, like the training images."""
        from ..sources.image_folder import MAX_PIXELS, decode_image

        color = "rgb" if self.input_shape[-1] == 3 else "grayscale"
        return decode_image(path, data, color, self.input_shape[:2], max_pixels or MAX_PIXELS, formats)

    def check_array(self, array: np.ndarray, where="array") -> np.ndarray:
        """Accept (H, W), (H, W, C) or a flat vector of the right size; anything else is an error naming both shapes."""
        array = np.asarray(array)
        if array.dtype.kind not in "uif":
            raise DataFormatError(where, f"expected finite numbers, received dtype {array.dtype}",
                                  "Send numeric values only.")
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise DataFormatError(where, NOT_FINITE, "Send numeric values only.")
        if array.size != int(np.prod(self.input_shape)):
            raise DataFormatError(where, f"expected shape {self.input_shape}, received {array.shape}",
                                  f"Resize the input to {self.input_shape[0]}x{self.input_shape[1]}.")
        return array.reshape(self.input_shape)

    # -- predicting -----------------------------------------------------------------------------------------------
    def _cast(self, x) -> np.ndarray:
        x = np.asarray(x)
        if self.info.input_dtype == "uint8":
            return np.clip(np.rint(x), 0, 255).astype(np.uint8) if x.dtype != np.uint8 else x
        return x.astype(np.float32)

    def predict_arrays(self, x: np.ndarray) -> np.ndarray:
        """Probabilities (N, K) for raw inputs of shape (N, *input_shape)."""
        return np.asarray(self._run(self._cast(x)), dtype=np.float64)

    def predict_scored(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(probabilities (N, K), OOD scores (N,)) in one pass; the scores are None where ``ood_available`` is
        false. A score below ``self.ood.threshold`` means: not like the training data. An empty batch (every file of
        a chunk unreadable) gives empty probabilities without running the model."""
        if not len(x):
            return np.zeros((0, len(self.class_names))), None
        if not self.ood_available:
            return self.predict_arrays(x), None
        return split_scored(self._run_scored(self._cast(x)), self.ood)

    def decide(self, proba: np.ndarray) -> np.ndarray:
        return predict_labels(proba, self.threshold, self.info.positive)

    def describe(self, proba_row: np.ndarray, label: int, top_k: int = 3) -> dict:
        order = np.argsort(-proba_row)[:top_k]
        return {"class": self.class_names[label], "probability": float(proba_row[label]),
                "top_k": [{"class": self.class_names[i], "probability": float(proba_row[i])} for i in order],
                "threshold": self.threshold}

    def explain(self, x: np.ndarray, classes=None, method: str = "auto", steps: int = 32):
        """Saliency maps for raw inputs ``x`` (N, *input_shape): for ``classes``, by default the classes this run
        decides (threshold included). Always computed with the Keras model (exports carry no gradients).

        >>> Predictor("runs/fashion-mnist-fast").explain(x[:4]).maps.shape     # doctest: +SKIP
        (4, 28, 28)
        """
        from .saliency import explain

        x = np.asarray(x).reshape(-1, *self.input_shape)
        if classes is None:
            classes = self.decide(self.predict_arrays(x))
        return explain(self.model, x.astype(np.float32), classes, method, steps)

    def read_files(self, paths) -> tuple[np.ndarray, list[str | None]]:
        """Read every file of ``paths``: (the arrays of the readable ones, stacked in order; one entry per path, None
        where it was read, else its one-line error). A bad file costs its own row, never the others'."""
        return self._gather(paths, self.read_file)

    def _gather(self, items, read) -> tuple[np.ndarray, list[str | None]]:
        """``read`` each item: (the arrays it gave, stacked in order; one entry per item, None where it was read,
        else its one-line ``DataFormatError``)."""
        arrays, errors = [], []
        for item in items:
            try:
                arrays.append(read(item))
                errors.append(None)
            except DataFormatError as exc:
                errors.append(str(exc))
        x = np.stack(arrays) if arrays else np.zeros((0, *self.input_shape), np.float32)
        return x, errors

    def predict_files(self, paths, top_k: int = 3) -> "Predictions":
        """Classify files: one row per file, in order (``file``, ``class``, ``probability``, ``top_k``,
        ``threshold``, ``error``). A file that cannot be read is a row with its ``error`` and no class, and the
        others are still predicted; a single file that cannot be read raises its ``DataFormatError``."""
        return self.scored_files(paths, top_k)[2]

    def scored_files(self, paths, top_k: int = 3) -> tuple[np.ndarray, np.ndarray, "Predictions"]:
        """``predict_files`` with what its rows came from: the readable files' examples and their probabilities (for
        drawing them: ``predict --explain``), and the rows of every file."""
        paths = list(paths)
        x, errors = self.read_files(paths)
        if len(paths) == 1 and errors[0]:
            self.read_file(paths[0])              # raises the file's own error, typed
        proba, scores = self.predict_scored(x)
        return x, proba, Predictions(self.rows(paths, errors, proba, top_k, scores))

    def predict_examples(self, x, top_k: int = 3, name: str = "x") -> "Predictions":
        """Classify examples already in memory, one row per example named ``x[i]``, as ``predict_files`` gives for
        files. ``x``: an array of shape (N, *input_shape) (or (N, H, W) for one channel, or (N, H*W*C)), one
        example, or a list of examples (each checked on its own, as a file is). An example that is not all finite
        numbers, or in a list one of another shape, is a row with its error, and the others are still predicted; an
        array of another shape raises one ``DataFormatError`` naming both shapes."""
        if isinstance(x, (list, tuple)):
            names = [f"{name}[{i}]" for i in range(len(x))]
            good, errors = self._gather(zip(names, x), lambda named: self.check_array(named[1], named[0]))
        else:
            good, names, errors = self._examples(np.asarray(x), name)
        proba, scores = self.predict_scored(good)
        return Predictions(self.rows(names, errors, proba, top_k, scores))

    def _examples(self, x: np.ndarray, name: str) -> tuple[np.ndarray, list[str], list[str | None]]:
        """(the finite examples of array ``x``, each example's name, its error or None), checked as a whole."""
        shape = tuple(self.input_shape)
        accepted = {shape, (int(np.prod(shape)),)} | ({shape[:-1]} if shape[-1] == 1 else set())
        if x.dtype.kind not in "uif":
            raise DataFormatError(name, f"expected an array of numbers, received dtype {x.dtype}",
                                  "Pass the examples as a numeric NumPy array.")
        if x.shape in accepted:        # one example
            x = x[None]
        if x.shape[1:] not in accepted:
            raise DataFormatError(name, f"expected examples of shape {shape} (an array of shape (N, "
                                  f"{', '.join(map(str, shape))})), received shape {x.shape}",
                                  f"Resize the examples to {'x'.join(map(str, shape[:-1]))}.")
        x = x.reshape(len(x), *shape)
        finite = (np.isfinite(x.reshape(len(x), -1)).all(axis=1) if x.dtype.kind == "f"
                  else np.ones(len(x), bool))
        names = [f"{name}[{i}]" for i in range(len(x))]
        errors = [None if ok else str(DataFormatError(n, NOT_FINITE, "Send numeric values only."))
                  for n, ok in zip(names, finite)]
        return x[finite], names, errors

    def ood_fields(self, score) -> dict:
        """``ood_score`` and ``ood`` (True: not like the training data) for one prediction; both None where the
        score is not available."""
        if score is None or self.ood is None:
            return {"ood_score": None, "ood": None}
        return {"ood_score": float(score), "ood": bool(score < self.ood.threshold)}

    def rows(self, files, errors, proba: np.ndarray, top_k: int = 3, scores=None) -> list[dict]:
        """The one row builder every multi-file path uses: ``files`` and ``errors`` aligned (None = read), and
        ``proba`` (and the OOD ``scores``, when there are any) holding the readable files' values in order."""
        labels = iter(self.decide(proba)) if len(proba) else iter(())
        probas = iter(proba)
        found = iter(scores) if scores is not None else None
        out = []
        for f, error in zip(files, errors):
            if error:
                out.append({"file": shown(f), "class": None, "probability": None, "top_k": [],
                            "threshold": self.threshold, "ood_score": None, "ood": None, "error": error})
            else:
                out.append({"file": shown(f), **self.describe(next(probas), int(next(labels)), top_k),
                            **self.ood_fields(next(found) if found is not None else None), "error": None})
        return out


class Predictions(list):
    """One dict per file (file, class, probability, top_k, threshold, error), shown as a table inline in a
    notebook. ``failed`` lists the rows of files that could not be read; ``summary()`` says how many and why."""

    @property
    def failed(self) -> list[dict]:
        return [r for r in self if r.get("error")]

    def summary(self) -> str:
        """``297 predicted, 3 failed: 3 x expected a valid PNG image, ...`` (reasons grouped, most common first)."""
        return summarize_failures(len(self) - len(self.failed), [(r["file"], r["error"]) for r in self.failed])

    def _repr_html_(self) -> str:
        import html

        e = html.escape
        like = {True: "NO", False: "yes", None: "n/a"}      # as `gridlab predict` prints the OOD flag
        rows = "".join(f"<tr><td>{e(str(r['file']))}</td><td>{e(str(r['class']))}</td>"
                       f"<td>{r['probability']:.4f}</td><td>{like[r.get('ood')]}</td><td>"
                       + ", ".join(f"{e(str(t['class']))} {t['probability']:.3f}" for t in r["top_k"])
                       + "</td></tr>" if not r.get("error") else
                       f"<tr><td>{e(str(r['file']))}</td><td colspan='4'>error: {e(r['error'])}</td></tr>"
                       for r in self)
        return ("<table><tr><th>file</th><th>class</th><th>probability</th><th>like training data</th>"
                "<th>top k</th></tr>" + rows + "</table>")


def summarize_failures(predicted: int, failures) -> str:
    """One line for a batch: how many files were predicted, how many failed and why. ``failures`` holds
    ``(file, error)`` pairs; each error's leading ``file:`` is left out so that equal reasons group.

    >>> summarize_failures(2, [("a.png", "a.png: expected a PNG image, received 0 bytes. Remove it.")])
    '2 predicted, 1 failed: 1 x expected a PNG image, received 0 bytes'
    """
    from collections import Counter

    if not failures:
        return f"{predicted:,} predicted, 0 failed"
    reasons = Counter()
    for file, error in failures:
        reason = error[len(str(file)) + 2:] if error.startswith(f"{file}: ") else error
        reasons[reason.split(". ")[0].rstrip(".")] += 1
    return (f"{predicted:,} predicted, {len(failures):,} failed: "
            + "; ".join(f"{n:,} x {reason}" for reason, n in reasons.most_common()))


def write_predictions_csv(rows: list[dict], path) -> None:
    """``file,class,probability,threshold,top_k,ood_score,ood,error`` per row (and ``explanation``, the PNG of each
    saliency map, when the rows have one), atomically. A file that could not be read has an empty class and its
    error."""
    from ..files import write_text

    buf = io.StringIO()
    w = csv.writer(buf)
    explained = any("explanation" in r for r in rows)
    w.writerow(["file", "class", "probability", "threshold", "top_k", "ood_score", "ood", "error"]
               + (["explanation"] if explained else []))
    for r in rows:
        w.writerow([r["file"], r["class"] or "", "" if r["probability"] is None else f"{r['probability']:.6f}",
                    "" if r["threshold"] is None else f"{r['threshold']:.6f}",
                    " ".join(f"{t['class']}:{t['probability']:.4f}" for t in r["top_k"]),
                    "" if r.get("ood_score") is None else f"{r['ood_score']:.6g}",
                    "" if r.get("ood") is None else str(r["ood"]).lower(), r.get("error") or ""]
                   + ([r.get("explanation", "")] if explained else []))
    write_text(path, buf.getvalue())


def _is_pattern(item) -> bool:
    """Whether a file argument is a glob (``*``, ``?`` or ``[``), for ``expand_inputs`` and the error of one that
    matches nothing."""
    return any(c in str(item) for c in "*?[")


def expand_inputs(items) -> list[Path]:
    """The files a prediction reads, in order: a file as named (named twice, read twice), every visible file below a
    folder (sorted), the matches of a glob (sorted; ``**`` at any depth); a file a folder or glob finds again is not
    repeated. A folder with no files, or a glob that matches none, stays as it is: reading it then fails with its
    own one-line error, so that nothing asked for is dropped without a word."""
    from ..sources.layout import visible_files

    out, seen = [], set()
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = list(visible_files(path)) or [path]
        elif _is_pattern(item):
            found = sorted(Path(p) for p in glob.glob(str(item), recursive=True) if Path(p).is_file()) or [path]
        else:
            out.append(path)
            seen.add(str(path))
            continue
        new = [p for p in found if str(p) not in seen]
        seen.update(str(p) for p in new)
        out += new
    return out


def predict(run, inputs, top_k: int = 3, out: str | None = None, runtime: str = "keras") -> Predictions:
    """Classify ``inputs`` with a finished run (Keras, or its ONNX export); optionally write the rows as CSV.
    ``inputs``: files (paths, folders and globs, as ``expand_inputs`` reads them; a list, or one), or examples
    already in memory (a NumPy array of shape (N, *input_shape), rows named ``x[i]``:
    ``Predictor.predict_examples``). A file that cannot be read, or an example that is not all finite numbers, is a
    row with its ``error`` (``rows.failed``, ``rows.summary()``); the others are predicted.

    >>> rows = gridlab.predict("runs/digits-fast", ["seven.png", "broken.png"])     # doctest: +SKIP
    >>> rows.summary()
    '1 predicted, 1 failed: 1 x expected a valid PNG image, received 812 bytes the PNG decoder cannot read'
    >>> gridlab.predict("runs/digits-fast", x_test[:100]).summary()                 # doctest: +SKIP
    '100 predicted, 0 failed'
    """
    top_k = check_count("top_k", top_k)
    if out:
        check_output_file(out, "predictions.csv")
    predictor = Predictor(run, runtime)
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if isinstance(inputs, (np.ndarray, np.generic, int, float)) or (
            isinstance(inputs, (list, tuple)) and inputs and all(isinstance(i, np.ndarray) for i in inputs)):
        rows = predictor.predict_examples(inputs, top_k)
    else:
        rows = predictor.predict_files(expand_inputs(inputs), top_k)
    if out:
        write_predictions_csv(rows, out)
    return rows
