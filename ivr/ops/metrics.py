"""``GET /metrics`` for Prometheus (an API token is required, as for the API).

Request counts and latency come from the web processes: under gunicorn with several processes,
set ``PROMETHEUS_MULTIPROC_DIR`` (the Procfile does, via ``ivr/ops/gunicorn_hooks.py``) so that a
scrape of any process reports all of them. Figures kept in the database (queue sizes here;
pending transcriptions and transcription seconds from ``Hotline.metrics``) are read at scrape
time, so every web process of every machine reports the same, whole-service figures.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from ivr.api.auth import token_required
from ivr.api.errors import api_error
from ivr.database import db
from ivr.hotline import hotline
from ivr.models import EntryState, QueueEntry, Scope

bp = Blueprint("metrics", __name__)
bp.register_error_handler(Exception, api_error)

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


class ServiceFigures(Collector):
    """Whole-service figures from the database: the queues, then what packages plug in."""

    def collect(self) -> Iterator[Metric]:
        waiting = GaugeMetricFamily(
            "hotline_queue_waiting", "Callers waiting in each queue.", labels=["queue"]
        )
        rows = db.session.execute(
            select(QueueEntry.queue, func.count())
            .where(QueueEntry.state.in_((EntryState.WAITING, EntryState.OFFERED)))
            .group_by(QueueEntry.queue)
        )
        for queue, count in rows:
            waiting.add_metric([queue], count)
        yield waiting
        for figures in hotline().metrics:
            yield from figures()


@bp.get("/metrics")
@token_required(Scope.METRICS)
def metrics() -> Response:
    """Prometheus text format: this service's processes, then the shared figures."""
    registry = CollectorRegistry()
    registry.register(ServiceFigures())
    body = process_metrics() + generate_latest(registry)
    db.session.commit()
    return Response(body, content_type=CONTENT_TYPE_LATEST)
