"""The HTTP app: ``POST /predict`` (image upload, ``.npy``, raw body or JSON grid), ``POST /predict/batch``,
``GET /health``, ``GET /model``, the web page at ``/`` and OpenAPI docs at ``/docs``.

Status codes: 413 body or image too large, 400 malformed multipart (e.g. too many fields), 415 unsupported
content, 422 data of the wrong shape or type (the message names the expected shape), 503 over the concurrency
limit (immediately), 504 past the timeout. Every 4xx is logged; the worker keeps serving.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from importlib import resources

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from ..errors import DataFormatError
from ..sources.image_folder import ImageTooLargeError, sniff_format
from .batcher import Batcher, Overloaded

log = logging.getLogger("gridlab.serving")


class RequestError(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def _model_id(predictor) -> str:
    digest = hashlib.sha256((predictor.folder / "model.keras").read_bytes()).hexdigest()[:12]
    return f"{predictor.folder.name}@{digest}"


def create_app(predictor, config):
    """A FastAPI app answering with ``predictor`` (a ``gridlab.Predictor``) under the ``serve_*`` config limits."""
    from .limits import BodyLimit

    batcher = Batcher(predictor.predict_arrays, config.serve_max_batch, config.serve_batch_window_ms,
                      config.serve_max_concurrent)
    model_id = _model_id(predictor)
    info = predictor.info
    formats = tuple(config.serve_formats)

    async def lifespan(_app):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="gridlab", description=f"Predictions from run {predictor.folder.name}", lifespan=lifespan)

    def decode(name: str, data: bytes) -> np.ndarray:
        """One uploaded file -> an input array, the format decided by content."""
        if not data:
            raise RequestError(422, f"{name}: expected a file, received 0 bytes.")
        refusal = predictor.image_refusal(name, data)
        if refusal:
            raise RequestError(415, f"{name}: {refusal[0]}. {refusal[1]}")
        if data[:6] == b"\x93NUMPY" or sniff_format(data[:8]) or info["kind"] == "grid":
            try:
                if sniff_format(data[:8]):
                    return predictor.decode_image(name, data, config.serve_max_pixels, formats)
                return predictor.read_file(name, data)
            except ImageTooLargeError as exc:
                raise RequestError(413, str(exc)) from None
            except DataFormatError as exc:
                raise RequestError(422, str(exc)) from None
        raise RequestError(415, f"{name}: expected {', '.join(formats)} content or a .npy array, received bytes "
                                f"{data[:8]!r}. Send one of those, or JSON {{\"grid\": [[...]]}} of shape "
                                f"{tuple(predictor.input_shape)}.")

    def from_json(value, where: str) -> np.ndarray:
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise RequestError(422, f"{where}: expected numbers of shape {tuple(predictor.input_shape)}, received "
                                    "values that are not numbers.") from None
        try:
            return predictor.check_array(array, where)
        except DataFormatError as exc:
            raise RequestError(422, str(exc)) from None

    async def inputs(request: Request, batch: bool) -> list[np.ndarray]:
        kind = request.headers.get("content-type", "")
        if kind.startswith("multipart/form-data"):
            try:
                form = await request.form(max_files=config.serve_max_fields, max_fields=config.serve_max_fields)
            except Exception as exc:   # starlette raises its multipart errors here
                raise RequestError(400, f"multipart body: {exc}. Send at most {config.serve_max_fields} "
                                        "fields and files.") from None
            files = [v for _, v in form.multi_items() if hasattr(v, "read")]
            if not files:
                raise RequestError(422, "multipart body: expected a file field (e.g. -F file=@image.png).")
            if not batch:
                files = files[:1]
            return [decode(f.filename or "upload", await f.read()) for f in files]
        body = await request.body()
        if kind.startswith("application/json"):
            try:
                doc = json.loads(body)
            except ValueError:
                raise RequestError(422, "JSON body: not valid JSON. Send {\"grid\": [[...]]}.") from None
            if batch:
                grids = doc.get("grids") if isinstance(doc, dict) else None
                if not isinstance(grids, list) or not grids:
                    raise RequestError(422, "JSON body: expected {\"grids\": [grid, ...]}.")
                return [from_json(g, f"grids[{i}]") for i, g in enumerate(grids)]
            if not isinstance(doc, dict) or "grid" not in doc:
                raise RequestError(422, f"JSON body: expected {{\"grid\": [[...]]}} of shape "
                                        f"{tuple(predictor.input_shape)}.")
            return [from_json(doc["grid"], "grid")]
        return [decode("body", body)]

    async def answer(request: Request, batch: bool):
        started = time.perf_counter()
        try:
            xs = await inputs(request, batch)
            x = np.stack(xs)
            proba = await batcher.submit(x, config.serve_timeout)
        except RequestError as exc:
            log.warning("%s %s -> %s: %s", request.method, request.url.path, exc.status, exc.detail)
            return JSONResponse({"detail": exc.detail}, exc.status)
        except Overloaded:
            return JSONResponse({"detail": f"over {config.serve_max_concurrent} requests in flight; retry shortly."},
                                503, headers={"Retry-After": "1"})
        except asyncio.TimeoutError:
            return JSONResponse({"detail": f"prediction took over {config.serve_timeout} s."}, 504)
        labels = predictor.decide(proba)
        ms = (time.perf_counter() - started) * 1000
        results = []
        for i in range(len(x)):
            r = predictor.describe(proba[i], int(labels[i]), top_k=min(5, len(predictor.class_names)))
            r["probabilities"] = {n: float(p) for n, p in zip(predictor.class_names, proba[i])}
            if request.query_params.get("echo"):
                r["input"] = x[i][..., 0].tolist() if x[i].shape[-1] == 1 else x[i].tolist()
            results.append(r)
        if batch:   # JSONResponse directly: FastAPI's encoder of return values costs more than the model
            return JSONResponse({"results": results, "model": model_id, "latency_ms": round(ms, 3)})
        return JSONResponse({**results[0], "model": model_id, "latency_ms": round(ms, 3)})

    @app.post("/predict", summary="Classify one image, .npy array or JSON grid")
    async def predict_one(request: Request):
        return await answer(request, batch=False)

    @app.post("/predict/batch", summary="Classify several files (multipart) or {\"grids\": [...]}")
    async def predict_batch(request: Request):
        return await answer(request, batch=True)

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": model_id, "in_flight": batcher.in_flight, "batches": batcher.batches,
                "examples": batcher.examples}

    @app.get("/model")
    async def model():
        folder = predictor.folder
        metrics = json.loads((folder / "metrics.json").read_text())
        parity = json.loads((folder / "export.json").read_text()) if (folder / "export.json").is_file() else {}
        return {"model": model_id, "runtime": predictor.runtime, "classes": predictor.class_names,
                "input_shape": list(predictor.input_shape), "input_dtype": info["input_dtype"], "kind": info["kind"],
                "threshold": predictor.threshold,
                "metrics": {k: metrics.get(k) for k in ("accuracy", "balanced_accuracy", "log_loss", "examples")},
                "export_parity": parity}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return resources.files("gridlab.serving").joinpath("page.html").read_text(encoding="utf-8")

    return BodyLimit(app, config.serve_max_upload_bytes)


def serve(run, host: str = "127.0.0.1", port: int = 8000, config=None, **overrides):
    """Start the server (blocking). With ``serve_runtime=onnx`` the run is exported to ONNX first if needed."""
    import uvicorn

    from ..config import load_config
    from ..prediction import Predictor

    config = config or load_config(overrides)
    if config.serve_runtime == "onnx":
        from ..export import export, export_path
        from ..training.run_dir import find_run

        if not export_path(find_run(run), "onnx").is_file():
            report = export(run, "onnx")
            print(f"exported {report['path']} (parity: argmax agreement {report['argmax_agreement']:.2%})",
                  flush=True)
    predictor = Predictor(run, config.serve_runtime)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(predictor, config)
    print(f"serving {predictor.folder} with {config.serve_runtime} on http://{host}:{port}/  (docs at /docs)",
          flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
