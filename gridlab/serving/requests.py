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


def json_inputs(predictor, body: bytes, batch: bool) -> list[np.ndarray]:
    """``{"grid": [[...]]}`` (or ``{"grids": [grid, ...]}`` for a batch) -> input arrays."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise RequestError(422, "JSON body: not valid JSON. Send {\"grid\": [[...]]}.") from None
    if batch:
        grids = doc.get("grids") if isinstance(doc, dict) else None
        if not isinstance(grids, list) or not grids:
            raise RequestError(422, "JSON body: expected {\"grids\": [grid, ...]}.")
        return [from_json_grid(predictor, g, f"grids[{i}]") for i, g in enumerate(grids)]
    if not isinstance(doc, dict) or "grid" not in doc:
        raise RequestError(422, f"JSON body: expected {{\"grid\": [[...]]}} of shape {tuple(predictor.input_shape)}.")
    return [from_json_grid(predictor, doc["grid"], "grid")]


async def request_inputs(request, predictor, config, batch: bool) -> list[np.ndarray]:
    """The input arrays of a request: multipart files, a JSON grid, or one raw file as the body."""
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
        return [decode_upload(predictor, f.filename or "upload", await f.read(), config.serve_max_pixels, formats)
                for f in files]
    body = await request.body()
    if kind.startswith("application/json"):
        return json_inputs(predictor, body, batch)
    return [decode_upload(predictor, "body", body, config.serve_max_pixels, formats)]


def answer_rows(predictor, x: np.ndarray, proba: np.ndarray, echo: bool = False) -> list[dict]:
    """One JSON-ready row per input: class, probability, top-k, threshold, every class's probability (and the
    input itself with ``echo``)."""
    labels = predictor.decide(proba)
    rows = []
    for i in range(len(x)):
        row = predictor.describe(proba[i], int(labels[i]), top_k=min(5, len(predictor.class_names)))
        row["probabilities"] = {n: float(p) for n, p in zip(predictor.class_names, proba[i])}
        if echo:
            row["input"] = x[i][..., 0].tolist() if x[i].shape[-1] == 1 else x[i].tolist()
        rows.append(row)
    return rows
