"""What voicemail adds to /metrics (``ivr/ops/metrics.py``): messages, backlog, work done.

Read from the shared database at scrape time, so every web process reports the same figures.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select

from ivr.database import db
from voicemail.health import transcription_lag
from voicemail.models import Voicemail, VoicemailStatus

UNFINISHED = (VoicemailStatus.PENDING, VoicemailStatus.TRANSCRIBING)


def message_figures() -> Iterator[Metric]:
    """Messages by status, the transcription backlog, and what the workers have done."""
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
