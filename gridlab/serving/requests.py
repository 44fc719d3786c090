"""Request bodies -> input arrays, and answers -> JSON rows: plain functions the app calls, testable without HTTP.

Reading uses the ``Predictor``'s own readers (``read_file``, ``check_array``), so a served file is read exactly as
``gridlab predict`` reads it; what this module adds is the HTTP status each refusal maps to.
"""
from __future__ import annotations

import json

import numpy as np

from ..errors import DataFormatError
from ..sources.image_folder import ImageTooLargeError, sniff_format


class RequestError(Exception):
    """A request that gets a 4xx answer: ``status`` and the one-line ``detail``."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def decode_upload(predictor, name: str, data: bytes, max_pixels: int, formats) -> np.ndarray:
    """One uploaded file -> an input array, the format decided by content: 415 for content the model cannot
    take, 413 for an image over ``max_pixels``, 422 for a file of the right kind that is broken or misshaped."""
    if not data:
        raise RequestError(422, f"{name}: expected a file, received 0 bytes.")
    refusal = predictor.image_refusal(name, data)
    if refusal:
        raise RequestError(415, f"{name}: {refusal[0]}. {refusal[1]}")
    if not (data[:6] == b"\x93NUMPY" or sniff_format(data[:8]) or predictor.info.kind == "grid"):
        raise RequestError(415, f"{name}: expected {', '.join(formats)} content or a .npy array, received bytes "
                                f"{data[:8]!r}. Send one of those, or JSON {{\"grid\": [[...]]}} of shape "
                                f"{tuple(predictor.input_shape)}.")
    try:
        return predictor.read_file(name, data, max_pixels, tuple(formats))
    except ImageTooLargeError as exc:
        raise RequestError(413, str(exc)) from None
    except DataFormatError as exc:
        raise RequestError(422, str(exc)) from None


def from_json_grid(predictor, value, where: str) -> np.ndarray:
    """A JSON grid (nested lists of numbers) -> an input array of the model's shape, or a 422."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise RequestError(422, f"{where}: expected numbers of shape {tuple(predictor.input_shape)}, received "
                                "values that are not numbers.") from None
    try:
        return predictor.check_array(array, where)
    except DataFormatError as exc:
        raise RequestError(422, str(exc)) from None


def json_inputs(predictor, body: bytes, batch: bool) -> tuple[list[str], list, list]:
    """``{"grid": [[...]]}`` (or ``{"grids": [grid, ...]}`` for a batch) -> (names, arrays, refusals)."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise RequestError(422, "JSON body: not valid JSON. Send {\"grid\": [[...]]}.") from None
    if batch:
        grids = doc.get("grids") if isinstance(doc, dict) else None
        if not isinstance(grids, list) or not grids:
            raise RequestError(422, "JSON body: expected {\"grids\": [grid, ...]}.")
        names = [f"grids[{i}]" for i in range(len(grids))]
        return _each(names, [lambda g=g, n=n: from_json_grid(predictor, g, n) for g, n in zip(grids, names)])
    if not isinstance(doc, dict) or "grid" not in doc:
        raise RequestError(422, f"JSON body: expected {{\"grid\": [[...]]}} of shape {tuple(predictor.input_shape)}.")
    return ["grid"], [from_json_grid(predictor, doc["grid"], "grid")], [None]


async def request_inputs(request, predictor, config, batch: bool) -> tuple[list[str], list, list]:
    """The inputs of a request: (names, arrays, refusals), aligned. Multipart files, a JSON grid, or one raw file
    as the body. For a batch, a file or grid that cannot be read is a ``RequestError`` in ``refusals`` (its array is
    None) and the others are still answered; a request with nothing readable raises the first refusal."""
    kind = request.headers.get("content-type", "")
    formats = tuple(config.serve_formats)
    if kind.startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=config.serve_max_fields, max_fields=config.serve_max_fields)
        except Exception as exc:   # starlette raises its multipart errors here
            raise RequestError(400, f"multipart body: {exc}. Send at most {config.serve_max_fields} "
                                    "fields and files.") from None
        files = [v for _, v in form.multi_items() if hasattr(v, "read")]
        if not files:
            raise RequestError(422, "multipart body: expected a file field (e.g. -F file=@image.png).")
        files = files if batch else files[:1]
        names = [f.filename or "upload" for f in files]
        read = [(name, await f.read()) for name, f in zip(names, files)]
        return _each(names, [lambda n=n, d=d: decode_upload(predictor, n, d, config.serve_max_pixels, formats)
                             for n, d in read])
    body = await request.body()
    if kind.startswith("application/json"):
        return json_inputs(predictor, body, batch)
    return _each(["body"], [lambda: decode_upload(predictor, "body", body, config.serve_max_pixels, formats)])


def _each(names, readers) -> tuple[list[str], list, list]:
    """Run each reader; a refusal costs its own input only. All refused: the first refusal is the answer."""
    arrays, refusals = [], []
    for read in readers:
        try:
            arrays.append(read())
            refusals.append(None)
        except RequestError as exc:
            arrays.append(None)
            refusals.append(exc)
    if all(r is not None for r in refusals):
        raise refusals[0]
    return list(names), arrays, refusals


def answer_rows(predictor, x: np.ndarray, proba: np.ndarray, echo: bool = False, scores=None) -> list[dict]:
    """One JSON-ready row per input: class, probability, top-k, threshold, the OOD score and flag (``ood``: true =
    not like the training data; null where the run has no score), every class's probability (and the input itself
    with ``echo``)."""
    labels = predictor.decide(proba)
    rows = []
    for i in range(len(x)):
        row = predictor.describe(proba[i], int(labels[i]), top_k=min(5, len(predictor.class_names)))
        score = None if scores is None or np.isnan(scores[i]) else scores[i]
        row.update(predictor.ood_fields(score))
        row["probabilities"] = {n: float(p) for n, p in zip(predictor.class_names, proba[i])}
        if echo:
            row["input"] = x[i][..., 0].tolist() if x[i].shape[-1] == 1 else x[i].tolist()
        rows.append(row)
    return rows


def batch_rows(names, refusals, answered: list[dict]) -> list[dict]:
    """The answer rows of a batch in request order: each readable input's row (``answered``, in order) named by
    its ``file``, and each refused one as ``{"file", "error", "status"}``."""
    found = iter(answered)
    return [{"file": name, **next(found)} if refusal is None else
            {"file": name, "class": None, "error": refusal.detail, "status": refusal.status}
            for name, refusal in zip(names, refusals)]
