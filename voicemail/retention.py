"""Keeping callers' data only as long as allowed: the retention sweep.

Audio of messages and conversations goes after ``HOTLINE_KEEP_AUDIO_DAYS`` (files and database
audio), their transcripts, words, turns and search terms after ``HOTLINE_KEEP_TRANSCRIPTS_DAYS``,
and call logs with everything that hangs off them (events, queue stays, offers, wrap-ups, messages,
notes, recordings) after ``HOTLINE_KEEP_CALLS_DAYS``; 0 keeps for ever. Recordings of call-backs
made to customers are kept at least ``CALLBACK_KEEP_DAYS`` whatever the settings say.

The worker sweeps at most every ``HOTLINE_RETENTION_SWEEP_MINUTES``: whichever worker moves the
one ``retention_sweeps`` row's start time first sweeps, the others wait for the next turn. Work
goes in batches, one transaction each, and every step only touches what is still there, so a
sweep cut short (or run twice) leaves nothing half done that the next one does not finish.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, null, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.clock import utcnow
from ivr.models import AgentOffer, Call, CallEvent, PresenceChange, QueueEntry, Wrapup
from ivr.settings import CALLBACK_KEEP_DAYS
from voicemail.models import (
    ConversationAudio,
    ConversationRecording,
    ConversationTerm,
    Note,
    RetentionSweep,
    Voicemail,
    VoicemailAudio,
    VoicemailStatus,
    VoicemailTerm,
)
from voicemail.storage import CONVERSATIONS, DATABASE_PREFIX, MESSAGES, FileStore, StorageError

log = logging.getLogger(__name__)

BATCH = 500
SWEEP_ROW = 1
# Jobs the worker may be holding: their audio and transcript are left to it.
BUSY = (VoicemailStatus.PENDING, VoicemailStatus.TRANSCRIBING, VoicemailStatus.RECORDING)
# What a sweep or an erasure counts, in the order the figures page and the audit line show them.
KINDS = (
    "audio", "transcripts", "calls", "call_events", "queue_entries", "agent_offers", "wrapups",
    "messages", "notes", "recordings", "search_terms",
)  # fmt: skip


@dataclass(frozen=True)
class Retention:
    """How many days each kind of data is kept (0: for ever)."""

    audio_days: int = 0
    transcripts_days: int = 0
    calls_days: int = 0

    @classmethod
    def from_config(cls, config: Any) -> Retention:
        """Read the HOTLINE_KEEP_* settings."""
        return cls(
            audio_days=int(config.get("HOTLINE_KEEP_AUDIO_DAYS", 0)),
            transcripts_days=int(config.get("HOTLINE_KEEP_TRANSCRIPTS_DAYS", 0)),
            calls_days=int(config.get("HOTLINE_KEEP_CALLS_DAYS", 0)),
        )

    def rows(self) -> list[tuple[str, int, int]]:
        """(what, days kept, days a call-back's recording is kept) for the figures page."""
        return [
            ("audio", self.audio_days, _callback_days(self.audio_days)),
            ("transcripts", self.transcripts_days, _callback_days(self.transcripts_days)),
            ("calls", self.calls_days, _callback_days(self.calls_days)),
        ]


def _callback_days(days: int) -> int:
    return max(days, CALLBACK_KEEP_DAYS) if days else 0


def _older(days: int, now: datetime) -> datetime:
    return now - timedelta(days=days)


# ---- removing audio and transcripts, shared with erasure ---------------------------------------


def remove_files(config: Any, paths: Iterable[str | None], folder: str = MESSAGES) -> int:
    """Delete the files of these ``audio_path``s in ``folder`` (messages' or conversations');
    database audio is deleted with its rows."""
    store, removed = FileStore(config["HOTLINE_DATA_DIR"], folder), 0
    for relative in paths:
        if not relative or relative.startswith(DATABASE_PREFIX):
            continue
        try:
            path = store.path(relative)
        except StorageError:
            log.warning("retention: audio path outside the recordings folder left alone")
            continue
        if path.exists():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def drop_message_audio(session: Session, config: Any, ids: Sequence[int]) -> int:
    """Delete the audio of these messages (files, database rows) and forget where it was."""
    paths = session.scalars(select(Voicemail.audio_path).where(Voicemail.id.in_(ids))).all()
    remove_files(config, paths)  # first: a crash after it leaves a path the next sweep clears
    session.execute(delete(VoicemailAudio).where(VoicemailAudio.voicemail_id.in_(ids)))
    return session.execute(
        update(Voicemail)
        .where(Voicemail.id.in_(ids), Voicemail.audio_path.is_not(None))
        .values(audio_path=None, audio_bytes=None)
    ).rowcount


def drop_recording_audio(session: Session, config: Any, ids: Sequence[int]) -> int:
    """Delete the audio of these conversation recordings and forget where it was."""
    table = ConversationRecording
    paths = session.scalars(select(table.audio_path).where(table.id.in_(ids))).all()
    remove_files(config, paths, CONVERSATIONS)
    session.execute(delete(ConversationAudio).where(ConversationAudio.recording_id.in_(ids)))
    return session.execute(
        update(table)
        .where(table.id.in_(ids), table.audio_path.is_not(None))
        .values(audio_path=None, audio_bytes=None)
    ).rowcount


def blank_message_transcripts(session: Session, ids: Sequence[int]) -> tuple[int, int]:
    """Blank these messages' transcripts and words; (transcripts, search terms) removed."""
    terms = session.execute(delete(VoicemailTerm).where(VoicemailTerm.voicemail_id.in_(ids)))
    blanked = session.execute(
        update(Voicemail)
        .where(Voicemail.id.in_(ids), _has_transcript(Voicemail))
        .values(transcript=None, raw_transcript=None, words=null())
    )
    return blanked.rowcount, terms.rowcount


def blank_recording_transcripts(session: Session, ids: Sequence[int]) -> tuple[int, int]:
    """Blank these conversations' transcripts and turns; (transcripts, search terms) removed."""
    table = ConversationRecording
    terms = session.execute(delete(ConversationTerm).where(ConversationTerm.recording_id.in_(ids)))
    blanked = session.execute(
        update(table)
        .where(table.id.in_(ids), _has_transcript(table))
        .values(transcript=None, raw_transcript=None, turns=null())
    )
    return blanked.rowcount, terms.rowcount


def _has_transcript(table: Any) -> ColumnElement[bool]:
    # Not the JSON words or turns: an ORM None there is JSON null, not SQL NULL. Both are set
    # with the transcript and blanked with it.
    return or_(table.transcript.is_not(None), table.raw_transcript.is_not(None))


def delete_messages(session: Session, config: Any, ids: Sequence[int]) -> Counter[str]:
    """Delete these messages with their notes, search terms and audio."""
    counts: Counter[str] = Counter()
    counts["audio"] += drop_message_audio(session, config, ids)
    counts["search_terms"] += session.execute(
        delete(VoicemailTerm).where(VoicemailTerm.voicemail_id.in_(ids))
    ).rowcount
    counts["notes"] += session.execute(delete(Note).where(Note.voicemail_id.in_(ids))).rowcount
    counts["messages"] += session.execute(delete(Voicemail).where(Voicemail.id.in_(ids))).rowcount
    return counts


def delete_recordings(session: Session, config: Any, ids: Sequence[int]) -> Counter[str]:
    """Delete these conversation recordings with their search terms and audio."""
    counts: Counter[str] = Counter()
    counts["audio"] += drop_recording_audio(session, config, ids)
    counts["search_terms"] += session.execute(
        delete(ConversationTerm).where(ConversationTerm.recording_id.in_(ids))
    ).rowcount
    counts["recordings"] += session.execute(
        delete(ConversationRecording).where(ConversationRecording.id.in_(ids))
    ).rowcount
    return counts


def delete_calls(session: Session, ids: Sequence[int], entry_ids: Sequence[int]) -> Counter[str]:
    """Delete these calls and queue stays with their events, offers and wrap-ups.

    ``entry_ids`` holds the calls' stays and any other stay to go (an erased caller's).
    """
    counts: Counter[str] = Counter()
    entries = set(entry_ids) | set(
        session.scalars(select(QueueEntry.id).where(QueueEntry.call_id.in_(ids)))
    )
    if entries:
        session.execute(
            update(PresenceChange).where(PresenceChange.entry_id.in_(entries)).values(entry_id=None)
        )
        counts["agent_offers"] += session.execute(
            delete(AgentOffer).where(AgentOffer.entry_id.in_(entries))
        ).rowcount
        counts["queue_entries"] += session.execute(
            delete(QueueEntry).where(QueueEntry.id.in_(entries))
        ).rowcount
    counts["call_events"] += session.execute(
        delete(CallEvent).where(CallEvent.call_id.in_(ids))
    ).rowcount
    counts["wrapups"] += session.execute(delete(Wrapup).where(Wrapup.call_id.in_(ids))).rowcount
    counts["calls"] += session.execute(delete(Call).where(Call.id.in_(ids))).rowcount
    return counts


# ---- the sweep ---------------------------------------------------------------------------------


def _batches(session: Session, query: Any, batch: int) -> Iterable[list[int]]:
    """Ids from ``query`` a batch at a time until none is left (each batch changes them).

    A batch that comes back unchanged ends it: the next sweep tries again rather than spin.
    """
    seen: set[int] = set()
    while ids := list(session.scalars(query.limit(batch))):
        if seen.issuperset(ids):
            log.warning(
                "retention: %s row(s) could not be changed; left for the next sweep", len(ids)
            )
            session.rollback()
            return
        seen.update(ids)
        yield ids


def _expired(table: Any, when: ColumnElement[datetime], days: int, now: datetime) -> Any:
    """SQL: rows of ``table`` older than ``days``; a call-back's recording at least 30 days."""
    condition = when < _older(days, now)
    if table is ConversationRecording:
        condition = and_(
            condition,
            or_(table.direction != "callback", when < _older(_callback_days(days), now)),
        )
    return condition


def sweep(
    session: Session, config: Any, now: datetime | None = None, batch: int = BATCH
) -> dict[str, int]:
    """Remove everything kept longer than allowed; return how many of each kind went."""
    now = now or utcnow()
    keep = Retention.from_config(config)
    counts: Counter[str] = Counter()
    tables = (
        (Voicemail, Voicemail.created_at),
        (ConversationRecording, ConversationRecording.started_at),
    )
    if keep.calls_days:
        old_calls = select(Call.id).where(Call.started_at < _older(keep.calls_days, now))
        for table, when in tables:
            query = select(table.id).where(
                or_(
                    _expired(table, when, keep.calls_days, now),
                    table.call_id.in_(old_calls),
                ),
                table.status.not_in(BUSY),
            )
            remove = delete_messages if table is Voicemail else delete_recordings
            for ids in _batches(session, query.order_by(table.id), batch):
                counts.update(remove(session, config, ids))
                session.commit()
        for ids in _batches(session, old_calls.order_by(Call.id), batch):
            counts.update(delete_calls(session, ids, []))
            session.commit()
    if keep.audio_days:
        for table, when in tables:
            query = select(table.id).where(
                _expired(table, when, keep.audio_days, now),
                table.audio_path.is_not(None),
                table.status.not_in(BUSY),
            )
            drop = drop_message_audio if table is Voicemail else drop_recording_audio
            for ids in _batches(session, query.order_by(table.id), batch):
                counts["audio"] += drop(session, config, ids)
                session.commit()
    if keep.transcripts_days:
        for table, when in tables:
            query = select(table.id).where(
                _expired(table, when, keep.transcripts_days, now),
                _has_transcript(table),
                table.status.not_in(BUSY),
            )
            blank = blank_message_transcripts if table is Voicemail else blank_recording_transcripts
            for ids in _batches(session, query.order_by(table.id), batch):
                blanked, terms = blank(session, ids)
                counts["transcripts"] += blanked
                counts["search_terms"] += terms
                session.commit()
    return {kind: counts[kind] for kind in KINDS if counts[kind]}


def claim_sweep(session: Session, every: timedelta, now: datetime, force: bool = False) -> bool:
    """Take the sweep's turn: True when this process should sweep now.

    A compare-and-set on the one row's start time: of several workers, the first to move it
    sweeps, and the rest see it moved. ``force`` (the CLI) sweeps whatever the time.
    """
    if session.get(RetentionSweep, SWEEP_ROW) is None:
        try:
            session.add(RetentionSweep(id=SWEEP_ROW, removed={}))
            session.commit()
        except IntegrityError:  # another worker made it first
            session.rollback()
    query = update(RetentionSweep).where(RetentionSweep.id == SWEEP_ROW)
    if not force:
        query = query.where(
            or_(RetentionSweep.started_at.is_(None), RetentionSweep.started_at <= now - every)
        )
    taken = session.execute(query.values(started_at=now)).rowcount == 1
    session.commit()
    return taken


def run_sweep(
    session: Session, config: Any, *, force: bool = False, now: datetime | None = None
) -> dict[str, int] | None:
    """Sweep if it is this process's turn, and record what went; None when it was not."""
    now = now or utcnow()
    every = timedelta(minutes=float(config.get("HOTLINE_RETENTION_SWEEP_MINUTES", 5.0)))
    if not claim_sweep(session, every, now, force):
        return None
    removed = sweep(session, config, now)
    session.execute(
        update(RetentionSweep)
        .where(RetentionSweep.id == SWEEP_ROW)
        .values(finished_at=utcnow(), removed=removed)
    )
    session.commit()
    if removed:
        log.info("retention sweep removed %s", removed)
    return removed


def maybe_sweep(app: Any, session: Session) -> None:
    """The worker's turn at the sweep, at most every few minutes; never stops the worker."""
    every = float(app.config.get("HOTLINE_RETENTION_SWEEP_MINUTES", 5.0)) * 60
    due = app.extensions.get("hotline.retention_due", 0.0)
    if time.monotonic() < due:
        return
    app.extensions["hotline.retention_due"] = time.monotonic() + every
    try:
        run_sweep(session, app.config)
    except Exception:
        log.exception("retention sweep failed; it is tried again next turn")
        session.rollback()


def last_sweep(session: Session) -> RetentionSweep | None:
    """The sweep's row (when it last ran and what it removed), if it ever ran."""
    return session.get(RetentionSweep, SWEEP_ROW)
