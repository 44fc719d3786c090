"""The HTTP app: ``POST /predict`` (image upload, ``.npy``, raw body or JSON grid), ``POST /predict/batch``,
``GET /health``, ``GET /model``, ``GET /metrics`` (Prometheus; ``serving.metrics``), the web page at ``/`` and
OpenAPI docs at ``/docs``. In a batch, an input that cannot be read is a row ``{"file", "class": null, "error",
"status"}`` and the others are answered (``"failed"`` counts them); a batch in which nothing can be read gets the first
input's 4xx. ``?explain=true`` adds each input's saliency map (``{"method", "map"}``, H x W values in [0, 1];
computed with the Keras model whatever the runtime); ``?echo=1`` returns the input as the model saw it.

Status codes: 413 body or image too large, 400 malformed multipart (e.g. too many fields), 415 unsupported
content, 422 data of the wrong shape or type (the message names the expected shape), 503 over the concurrency
limit (immediately), 504 past the timeout. Every 4xx is logged; the worker keeps serving.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from importlib import resources

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from .. import runs
from ..errors import ConfigError, GridlabError
from .batcher import Batcher, Overloaded
from .metrics import Observe, ServeMetrics
from .requests import RequestError, answer_rows, batch_rows, request_inputs

log = logging.getLogger("gridlab.serving")


def _model_id(predictor) -> str:
    digest = hashlib.sha256((predictor.folder / runs.MODEL).read_bytes()).hexdigest()[:12]
    return f"{predictor.folder.name}@{digest}"


def model_card(predictor, model_id: str) -> dict:
    """``GET /model``: the model's id, runtime, classes, input, threshold, OOD score, test metrics and export
    parity."""
    info, metrics = predictor.info, runs.read_metrics(predictor.folder)
    return {"model": model_id, "runtime": predictor.runtime, "classes": predictor.class_names,
            "input_shape": list(predictor.input_shape), "input_dtype": info.input_dtype, "kind": info.kind,
            "threshold": predictor.threshold,
            "ood": ({"method": predictor.ood.method, "threshold": predictor.ood.threshold,
                     "pass_rate": predictor.ood.pass_rate} if predictor.ood_available else None),
            "metrics": {k: metrics.get(k) for k in ("accuracy", "balanced_accuracy", "log_loss", "examples")},
            "export_parity": runs.read_exports(predictor.folder)}


def create_app(predictor, config):
    """A FastAPI app answering with ``predictor`` (a ``gridlab.Predictor``) under the ``serve_*`` config limits.
    It only wires routes: reading requests is ``serving.requests``, batching ``serving.batcher``."""
    from .limits import BodyLimit

    def predict(x):   # probabilities and the OOD score as one array: its last column (NaN where unavailable)
        proba, scores = predictor.predict_scored(x)
        return np.concatenate([proba, (np.full(len(x), np.nan) if scores is None else scores)[:, None]], axis=1)

    metrics = ServeMetrics(config.serve_metrics)
    batcher = Batcher(predict, config.serve_max_batch, config.serve_batch_window_ms, config.serve_max_concurrent,
                      on_batch=metrics.batch_predicted)
    model_id = _model_id(predictor)
    metrics.describe_model(predictor, model_id)

    async def lifespan(_app):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="gridlab", description=f"Predictions from run {predictor.folder.name}", lifespan=lifespan)

    async def answer(request: Request, batch: bool):
        started = time.perf_counter()
        try:
            names, arrays, refusals = await request_inputs(request, predictor, config, batch)
            for refusal in filter(None, refusals):
                log.warning("%s %s -> %s: %s", request.method, request.url.path, refusal.status, refusal.detail)
                metrics.refusal(refusal.status)
            x = np.stack([a for a in arrays if a is not None])
            scored = await batcher.submit(x, config.serve_timeout)
            proba, scores = scored[:, :-1], scored[:, -1]
        except RequestError as exc:
            log.warning("%s %s -> %s: %s", request.method, request.url.path, exc.status, exc.detail)
            metrics.refusal(exc.status)
            return JSONResponse({"detail": exc.detail}, exc.status)
        except Overloaded:
            metrics.refusal(503)
            return JSONResponse({"detail": f"over {config.serve_max_concurrent} requests in flight; retry shortly."},
                                503, headers={"Retry-After": "1"})
        except asyncio.TimeoutError:
            metrics.refusal(504)
            return JSONResponse({"detail": f"prediction took over {config.serve_timeout} s."}, 504)
        results = answer_rows(predictor, x, proba, echo=bool(request.query_params.get("echo")), scores=scores)
        if request.query_params.get("explain", "").lower() in ("1", "true", "yes"):
            try:
                saliency = await asyncio.to_thread(predictor.explain, x, predictor.decide(proba))
            except GridlabError as exc:
                return JSONResponse({"detail": str(exc)}, 422)
            for row, m in zip(results, saliency.maps):
                row["saliency"] = {"method": saliency.method, "map": np.round(m, 3).tolist()}
        metrics.answered(results)
        ms = round((time.perf_counter() - started) * 1000, 3)
        if batch:   # JSONResponse directly: FastAPI's encoder of return values costs more than the model
            failed = sum(r is not None for r in refusals)
            return JSONResponse({"results": batch_rows(names, refusals, results), "failed": failed,
                                 "model": model_id, "latency_ms": ms})
        return JSONResponse({**results[0], "model": model_id, "latency_ms": ms})

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
        return model_card(predictor, model_id)

    if metrics.enabled:
        @app.get("/metrics", summary="Prometheus metrics (text format)")
        async def prometheus():
            body, content_type = metrics.exposition()
            return Response(body, media_type=content_type)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return resources.files("gridlab.serving").joinpath("page.html").read_text(encoding="utf-8")

    limited = BodyLimit(app, config.serve_max_upload_bytes, on_reject=lambda: metrics.refusal(413))
    return Observe(limited, metrics, log=config.serve_access_log)


def serve(run, host: str = "127.0.0.1", port: int = 8000, config=None, **overrides):
    """Start the server (blocking). With ``serve_runtime=onnx`` the run is exported to ONNX first if needed."""
    import uvicorn

    from ..config import load_config
    from ..prediction import Predictor

    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(f"port expects a TCP port from 1 to 65535, received {port!r}. For example --port 8000.")
    config = config or load_config(overrides)
    if config.serve_runtime == "onnx":
        from ..export import ensure_export

        ensure_export(run, "onnx", lambda line: print(line, flush=True))
    predictor = Predictor(run, config.serve_runtime)
    app = create_app(predictor, config)
    print(f"serving {predictor.folder} with {config.serve_runtime} on http://{host}:{port}/  (docs at /docs)",
          flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
