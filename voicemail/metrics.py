"""What voicemail adds to /metrics (``ivr/ops/metrics.py``): messages, backlog, work done.

Read from the shared database at scrape time, so every web process reports the same figures.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select

from ivr.database import db
from voicemail.health import transcription_lag
from voicemail.models import ConversationRecording, Voicemail, VoicemailStatus

UNFINISHED = (VoicemailStatus.PENDING, VoicemailStatus.TRANSCRIBING)


def _by_status(kind: type[Voicemail] | type[ConversationRecording]) -> dict[str, int]:
    return dict(db.session.execute(select(kind.status, func.count()).group_by(kind.status)).all())


def message_figures() -> Iterator[Metric]:
    """Messages and recorded conversations by status, the transcription backlog (both kinds:
    the workers take them in turns), and what the workers have done."""
    counts: dict[str, int] = {}
    for kind, name, text in (
        (Voicemail, "hotline_voicemails", "Voice messages by transcription status."),
        (ConversationRecording, "hotline_conversation_recordings",
         "Recorded conversations by transcription status."),
    ):  # fmt: skip
        family = GaugeMetricFamily(name, text, labels=["status"])
        found = _by_status(kind)
        for status in VoicemailStatus:
            family.add_metric([status.value], found.get(status, 0))
            counts[status] = counts.get(status, 0) + found.get(status, 0)
        yield family

    yield GaugeMetricFamily(
        "hotline_transcriptions_pending",
        "Messages and recorded conversations waiting for or in transcription.",
        value=sum(counts.get(status, 0) for status in UNFINISHED),
    )
    yield GaugeMetricFamily(
        "hotline_transcription_lag_seconds",
        "Age of the oldest due message or recorded conversation.",
        value=transcription_lag(),
    )

    spent = heard = done = 0.0
    for kind in (Voicemail, ConversationRecording):
        row = db.session.execute(
            select(
                func.coalesce(func.sum(kind.transcription_seconds), 0.0),
                func.coalesce(func.sum(kind.duration), 0.0),
                func.count(kind.transcription_seconds),
            )
        ).one()
        spent, heard, done = spent + row[0], heard + row[1], done + row[2]
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
        "hotline_transcriptions",
        "Messages and recorded conversations transcribed.",
        value=float(done),
    )
