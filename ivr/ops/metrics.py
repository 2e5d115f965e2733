"""Prometheus metrics of the web processes: requests and their latency, per endpoint.

Under gunicorn with several processes, set ``PROMETHEUS_MULTIPROC_DIR`` (the Procfile does, via
``ivr/ops/gunicorn_hooks.py``) so that a scrape of any process reports all of them. Figures kept in
the database (queues, pending transcriptions) are read at scrape time by ``voicemail/metrics.py``.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

REQUESTS = Counter(
    "hotline_http_requests", "HTTP requests answered.", ["endpoint", "method", "status"]
)
LATENCY = Histogram(
    "hotline_http_request_seconds",
    "Time to answer an HTTP request.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def init_metrics(app: Flask) -> None:
    """Count and time every request by endpoint (never by raw path: ids would explode it)."""

    @app.before_request
    def start_clock() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def observe(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        if started is not None:
            endpoint = request.endpoint or "unmatched"
            LATENCY.labels(endpoint).observe(time.perf_counter() - started)
            REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        return response


def process_metrics() -> bytes:
    """The request metrics in the text format, of all processes when multiprocess mode is on."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY)
