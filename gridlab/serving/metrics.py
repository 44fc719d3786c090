"""What a running server tells Prometheus at ``GET /metrics``, through the official ``prometheus-client`` (its own
registry per app, so two apps in one process never share counters), and the optional one-line JSON access log.

Series (all prefixed ``gridlab_``):

- ``requests_total{endpoint, status}`` and ``request_seconds{endpoint}`` (a histogram), counted by an ASGI
  middleware around everything, so a body refused before the app sees it (413) is counted too;
- ``batch_size`` (a histogram): examples per model call of the micro-batcher;
- ``predictions_total{class}``: answered inputs by predicted class;
- ``ood_total{class}``: answered inputs flagged as not like the training data, by the class they would have had;
- ``refused_inputs_total{reason}``: inputs refused, by reason (``too_large`` 413, ``malformed`` 400,
  ``unsupported`` 415, ``unreadable`` 422, ``overloaded`` 503, ``timeout`` 504); a batch's refused file counts
  here although its request was answered 200;
- ``model_info{model, run, runtime, ood, classes, input_shape}``: the model being served, as labels.
"""
from __future__ import annotations

import json
import logging
import time

REASONS = {400: "malformed", 413: "too_large", 415: "unsupported", 422: "unreadable", 503: "overloaded",
           504: "timeout"}
ENDPOINTS = ("/predict", "/predict/batch", "/health", "/model", "/metrics", "/", "/docs", "/openapi.json")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

access_log = logging.getLogger("gridlab.access")


class ServeMetrics:
    """The server's Prometheus series. ``enabled=False`` keeps every method a no-op (``serve_metrics=false``)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        if not enabled:
            return
        from prometheus_client import CollectorRegistry, Counter, Histogram, Info

        self.registry = CollectorRegistry()
        self.requests = Counter("gridlab_requests", "HTTP requests answered, by endpoint and status code",
                                ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("gridlab_request_seconds", "Time from request to answer, by endpoint",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch = Histogram("gridlab_batch_size", "Examples per model call of the micro-batcher",
                               buckets=BATCH_BUCKETS, registry=self.registry)
        self.predictions = Counter("gridlab_predictions", "Inputs answered, by predicted class", ["class"],
                                   registry=self.registry)
        self.ood = Counter("gridlab_ood", "Inputs answered as not like the training data, by predicted class",
                           ["class"], registry=self.registry)
        self.refused = Counter("gridlab_refused_inputs", "Inputs refused, by reason (" +
                               ", ".join(f"{v} = {k}" for k, v in REASONS.items()) + ")", ["reason"],
                               registry=self.registry)
        self.info = Info("gridlab_model", "The model being served", registry=self.registry)

    def describe_model(self, predictor, model_id: str):
        if self.enabled:
            self.info.info({"model": model_id, "run": predictor.folder.name, "runtime": predictor.runtime,
                            "ood": predictor.ood.method if predictor.ood_available else "none",
                            "classes": str(len(predictor.class_names)),
                            "input_shape": "x".join(map(str, predictor.input_shape))})

    def answered(self, rows: list[dict]):
        """Count the answer rows of one request (refused rows, those with an ``error``, are counted by
        ``refusal``)."""
        if not self.enabled:
            return
        for row in rows:
            if row.get("error") is None:
                self.predictions.labels(row["class"]).inc()
                if row.get("ood"):
                    self.ood.labels(row["class"]).inc()

    def refusal(self, status: int):
        if self.enabled and status in REASONS:
            self.refused.labels(REASONS[status]).inc()

    def batch_predicted(self, size: int):
        if self.enabled:
            self.batch.observe(size)

    def exposition(self) -> tuple[bytes, str]:
        """The text format body and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class Observe:
    """ASGI middleware: every HTTP request counted by endpoint and status with its latency, and (``log=True``) one
    JSON line per request on the ``gridlab.access`` logger. Paths other than the app's own count as ``other``, so a
    scan of random URLs cannot grow the series without bound."""

    def __init__(self, app, metrics: ServeMetrics, log: bool = False):
        self.app, self.metrics, self.log = app, metrics, log

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not (self.metrics.enabled or self.log):
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def observed_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            seconds = time.perf_counter() - started
            endpoint = scope["path"] if scope["path"] in ENDPOINTS else "other"
            if self.metrics.enabled:
                self.metrics.requests.labels(endpoint, str(status)).inc()
                self.metrics.latency.labels(endpoint).observe(seconds)
            if self.log:
                client = scope.get("client") or ("", 0)
                access_log.info(json.dumps({"time": round(time.time(), 3), "client": client[0],
                                            "method": scope["method"], "path": scope["path"], "status": status,
                                            "ms": round(seconds * 1000, 3)}))
