"""``GET /metrics`` for Prometheus (an API token is required, as for the API).

Request counts and latency come from the web processes (``ivr/metrics.py``). Queue sizes,
pending transcriptions and transcription seconds are read from the shared database at scrape
time, so every web process of every machine reports the same, whole-service figures.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from ivr.api.auth import token_required
from ivr.api.errors import api_error
from ivr.database import db
from ivr.models import EntryState, QueueEntry, Scope
from ivr.ops.metrics import process_metrics
from voicemail.health import transcription_lag
from voicemail.models import Voicemail, VoicemailStatus

bp = Blueprint("metrics", __name__)
bp.register_error_handler(Exception, api_error)
UNFINISHED = (VoicemailStatus.PENDING, VoicemailStatus.TRANSCRIBING)


class ServiceFigures(Collector):
    """Whole-service figures from the database."""

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

        messages = GaugeMetricFamily(
            "hotline_voicemails", "Voice messages by transcription status.", labels=["status"]
        )
        counts: dict[str, int] = {
            status: count
            for status, count in db.session.execute(
                select(Voicemail.status, func.count()).group_by(Voicemail.status)
            )
        }
        for status in VoicemailStatus:
            messages.add_metric([status.value], counts.get(status, 0))
        yield messages

        yield GaugeMetricFamily(
            "hotline_transcriptions_pending",
            "Voice messages waiting for or in transcription.",
            value=sum(counts.get(status, 0) for status in UNFINISHED),
        )
        yield GaugeMetricFamily(
            "hotline_transcription_lag_seconds",
            "Age of the oldest due message.",
            value=transcription_lag(),
        )

        spent, heard, done = db.session.execute(
            select(
                func.coalesce(func.sum(Voicemail.transcription_seconds), 0.0),
                func.coalesce(func.sum(Voicemail.duration), 0.0),
                func.count(Voicemail.transcription_seconds),
            )
        ).one()
        yield CounterMetricFamily(
            "hotline_transcription_seconds",
            "Seconds spent recognising speech, all workers.",
            value=float(spent),
        )
        yield CounterMetricFamily(
            "hotline_transcribed_audio_seconds",
            "Seconds of audio transcribed, all workers.",
            value=float(heard),
        )
        yield CounterMetricFamily(
            "hotline_transcriptions", "Voice messages transcribed.", value=float(done)
        )


@bp.get("/metrics")
@token_required(Scope.METRICS)
def metrics() -> Response:
    """Prometheus text format: this service's processes, then the shared figures."""
    registry = CollectorRegistry()
    registry.register(ServiceFigures())
    body = process_metrics() + generate_latest(registry)
    db.session.commit()
    return Response(body, content_type=CONTENT_TYPE_LATEST)
