"""Voice messages: the row is both the message and the transcription job."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ivr.clock import utcnow
from ivr.database import UTCDateTime, db, trigrams


class VoicemailStatus(StrEnum):
    """Where the transcription job stands."""

    PENDING = "pending"
    RECORDING = "recording"  # a conversation still going on: not yet a job
    TRANSCRIBING = "transcribing"
    TRANSCRIBED = "transcribed"
    UNTRANSCRIBED = "untranscribed"  # kept and playable, but no model for its language
    FAILED = "failed"


class CaseStatus(StrEnum):
    """Where the caller's case stands; read to them by phone."""

    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"
    RESOLVED = "resolved"


class AudioJob:
    """What a recording that the worker fetches, keeps and transcribes carries: the row is the
    job (status, lease, attempts), then where its audio is kept and what it says."""

    status: Mapped[VoicemailStatus] = mapped_column(String(16), default=VoicemailStatus.PENDING)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    leased_by: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    audio_path: Mapped[str | None] = mapped_column(String(255))
    audio_format: Mapped[str | None] = mapped_column(String(8))
    audio_bytes: Mapped[int | None] = mapped_column()
    duration: Mapped[float | None] = mapped_column(Float)
    transcript: Mapped[str | None] = mapped_column(Text)
    raw_transcript: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(255))
    transcription_seconds: Mapped[float | None] = mapped_column(Float)
    transcribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Voicemail(AudioJob, db.Model):
    """A caller's recorded message, its audio, transcript and case."""

    __tablename__ = "voicemails"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", ondelete="SET NULL"), index=True
    )
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    case_number: Mapped[str] = mapped_column(String(16), unique=True, index=True)
    case_status: Mapped[CaseStatus] = mapped_column(String(16), default=CaseStatus.RECEIVED)
    assigned_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    category: Mapped[str] = mapped_column(String(64), default="general")
    language: Mapped[str | None] = mapped_column(String(16))
    from_number: Mapped[str] = mapped_column(String(64), default="", index=True)
    recording_sid: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    recording_url: Mapped[str] = mapped_column(Text)
    recording_duration: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    words: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


# The worker's claim query: the oldest job that is due.
Index("ix_voicemails_queue", Voicemail.status, Voicemail.next_attempt_at)
# The inbox's tabs: messages in one case status, newest first.
Index("ix_voicemails_case_status_created_at", Voicemail.case_status, Voicemail.created_at)
# The figures' messages answered within the promise, read from the index alone.
Index("ix_voicemails_created_at_answered_at", Voicemail.created_at, Voicemail.answered_at)
# Search by part of a number or case ("138001", "8000"): trigram indexes on PostgreSQL; none
# on SQLite (an empty partial index there), which reads a small file fast enough.
Index("ix_voicemails_from_number_trgm", Voicemail.from_number, **trigrams("from_number"))
Index("ix_voicemails_case_number_trgm", Voicemail.case_number, **trigrams("case_number"))


class Note(db.Model):
    """An agent's note on a message (what was promised, what to check)."""

    __tablename__ = "voicemail_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    voicemail_id: Mapped[int] = mapped_column(
        ForeignKey("voicemails.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VoicemailTerm(db.Model):
    """One search term of a message's transcript (see voicemail/search.py)."""

    __tablename__ = "voicemail_terms"

    term: Mapped[str] = mapped_column(String(32), primary_key=True)
    voicemail_id: Mapped[int] = mapped_column(
        ForeignKey("voicemails.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class VoicemailAudio(db.Model):
    """A recording kept in the database, so web and worker processes on any machine can read it."""

    __tablename__ = "voicemail_audio"

    voicemail_id: Mapped[int] = mapped_column(
        ForeignKey("voicemails.id", ondelete="CASCADE"), primary_key=True
    )
    codec: Mapped[str] = mapped_column(String(8))  # "zlib" or "raw": whichever was smaller
    size: Mapped[int] = mapped_column()  # bytes as received
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ConversationRecording(AudioJob, db.Model):
    """A recorded conversation between a customer and an agent, a job like a message.

    Twilio records the customer's leg in two channels: channel 1 is what the customer says,
    channel 2 what they hear (the agent). A call-back from the inbox is recorded on the agent's
    leg instead (``<Dial record>``: the agent on channel 1, the customer on ``customer_channel``
    2). The row is made when the recording starts (status ``recording``) and becomes a job
    (``pending``) when Twilio reports the file complete.
    """

    __tablename__ = "conversation_recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", ondelete="SET NULL"), index=True
    )
    call_sid: Mapped[str] = mapped_column(String(64), index=True)  # the customer's leg
    entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("queue_entries.id", ondelete="SET NULL"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    direction: Mapped[str] = mapped_column(String(16), default="inbound")  # or "callback"
    # The message a call-back from the inbox answers.
    voicemail_id: Mapped[int | None] = mapped_column(
        ForeignKey("voicemails.id", ondelete="SET NULL"), index=True
    )
    customer_channel: Mapped[int] = mapped_column(default=1, server_default="1")
    queue: Mapped[str] = mapped_column(String(64), default="")
    language: Mapped[str | None] = mapped_column(String(16))
    from_number: Mapped[str] = mapped_column(String(64), default="", index=True)  # the customer
    recording_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    recording_url: Mapped[str] = mapped_column(Text, default="")
    recording_duration: Mapped[int | None] = mapped_column()
    channels: Mapped[int] = mapped_column(default=2)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Paused stretches, [start, end] in seconds into the recording (silence in the audio).
    pauses: Mapped[list[list[float]]] = mapped_column(JSON, default=list)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # paused now, since
    # What each side said: [{"speaker": "customer"|"agent", "start", "end", "text", "words"}].
    turns: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


# The worker's claim query, as for messages.
Index(
    "ix_conversation_recordings_queue",
    ConversationRecording.status,
    ConversationRecording.next_attempt_at,
)


class ConversationTerm(db.Model):
    """One search term of a conversation's transcript (see voicemail/search.py)."""

    __tablename__ = "conversation_terms"

    term: Mapped[str] = mapped_column(String(32), primary_key=True)
    recording_id: Mapped[int] = mapped_column(
        ForeignKey("conversation_recordings.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ConversationAudio(db.Model):
    """A conversation's recording kept in the database (``HOTLINE_AUDIO_STORE=database``)."""

    __tablename__ = "conversation_audio"

    recording_id: Mapped[int] = mapped_column(
        ForeignKey("conversation_recordings.id", ondelete="CASCADE"), primary_key=True
    )
    codec: Mapped[str] = mapped_column(String(8))
    size: Mapped[int] = mapped_column()
    data: Mapped[bytes] = mapped_column(LargeBinary)


class QualityCheck(db.Model):
    """What the quality rules found in one transcribed message or conversation.

    Written after transcription, and again by ``flask voicemail recheck`` when the rules change.
    """

    __tablename__ = "quality_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "message" or "conversation"
    voicemail_id: Mapped[int | None] = mapped_column(
        ForeignKey("voicemails.id", ondelete="CASCADE"), unique=True
    )
    recording_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation_recordings.id", ondelete="CASCADE"), unique=True
    )
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    call_sid: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # left, or started
    score: Mapped[int] = mapped_column()
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"kind", "tag", "phrase", "turn", "start", "end", "text"}]: see voicemail/quality.py.
    matches: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    suggested_topic: Mapped[str | None] = mapped_column(String(64))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a flag sent to a supervisor


# The quality page: worst first.
Index("ix_quality_checks_score_at", QualityCheck.score, QualityCheck.at)


class QualityTag(db.Model):
    """One tag of a check, for the quality page's filter."""

    __tablename__ = "quality_tags"

    check_id: Mapped[int] = mapped_column(
        ForeignKey("quality_checks.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)


class RetentionSweep(db.Model):
    """The retention sweep's one row: when it last ran (a claim, so one worker sweeps at a time)
    and what it removed, for the figures page."""

    __tablename__ = "retention_sweeps"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
