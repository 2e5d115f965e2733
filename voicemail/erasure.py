"""Erasing everything about one caller number (PIPL art. 47, GDPR art. 17).

Calls from the number with their events, queue stays, offers, wrap-ups and ratings; its messages
with notes, transcripts, search terms and audio; its recorded conversations likewise. Numbers
are compared without separators, so "+86 138-0013-8000" is "+8613800138000". The audit line
says who erased, when and how many rows of each kind, with the number masked: never the number.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.audit import CALLER_ERASE, audit
from ivr.models import AgentOffer, Call, CallEvent, QueueEntry, Wrapup
from ivr.numbers import mask, normalise, normalised_column
from voicemail.models import (
    ConversationAudio,
    ConversationRecording,
    ConversationTerm,
    Note,
    Voicemail,
    VoicemailAudio,
    VoicemailTerm,
)
from voicemail.retention import KINDS, delete_calls, delete_messages, delete_recordings


def _ids(session: Session, table: Any, number: str) -> list[int]:
    column = normalised_column(table.from_number)
    return list(session.scalars(select(table.id).where(column == number)))


def _caller(session: Session, number: str) -> dict[str, list[int]]:
    """The ids of the caller's calls, stays, messages and recordings."""
    calls = _ids(session, Call, number)
    entries = set(_ids(session, QueueEntry, number))
    if calls:
        entries |= set(session.scalars(select(QueueEntry.id).where(QueueEntry.call_id.in_(calls))))
    messages = set(_ids(session, Voicemail, number))
    recordings = set(_ids(session, ConversationRecording, number))
    if calls:
        messages |= set(session.scalars(select(Voicemail.id).where(Voicemail.call_id.in_(calls))))
        recordings |= set(
            session.scalars(
                select(ConversationRecording.id).where(ConversationRecording.call_id.in_(calls))
            )
        )
    return {
        "calls": calls,
        "entries": sorted(entries),
        "messages": sorted(messages),
        "recordings": sorted(recordings),
    }


def _count(session: Session, column: Any, ids: list[int]) -> int:
    if not ids:
        return 0
    return session.scalar(select(func.count()).where(column.in_(ids))) or 0


def _with_audio(session: Session, table: Any, ids: list[int]) -> int:
    if not ids:
        return 0
    query = select(func.count()).where(table.id.in_(ids), table.audio_path.is_not(None))
    return session.scalar(query) or 0


def preview(session: Session, raw_number: str) -> dict[str, int]:
    """How many rows of each kind erasing ``raw_number`` would remove (NumberError if malformed)."""
    found = _caller(session, normalise(raw_number))
    calls, entries = found["calls"], found["entries"]
    messages, recordings = found["messages"], found["recordings"]
    audio = _with_audio(session, Voicemail, messages)
    audio += _with_audio(session, ConversationRecording, recordings)
    counts = {
        "calls": len(calls),
        "call_events": _count(session, CallEvent.call_id, calls),
        "queue_entries": len(entries),
        "agent_offers": _count(session, AgentOffer.entry_id, entries),
        "wrapups": _count(session, Wrapup.call_id, calls),
        "messages": len(messages),
        "notes": _count(session, Note.voicemail_id, messages),
        "recordings": len(recordings),
        "audio": audio,
        "search_terms": _count(session, VoicemailTerm.voicemail_id, messages)
        + _count(session, ConversationTerm.recording_id, recordings),
    }
    session.commit()
    return {kind: counts[kind] for kind in KINDS if counts.get(kind)}


def erase(session: Session, config: Any, raw_number: str, *, actor: str = "") -> dict[str, int]:
    """Erase everything about the caller and add the audit line; return the counts.

    One transaction for the rows, so a failure leaves the caller whole (only audio files may
    already be gone); the audit line commits with them.
    """
    number = normalise(raw_number)
    found = _caller(session, number)
    counts: Counter[str] = Counter()
    if found["messages"]:
        counts.update(delete_messages(session, config, found["messages"]))
    if found["recordings"]:
        counts.update(delete_recordings(session, config, found["recordings"]))
    if found["calls"] or found["entries"]:
        counts.update(delete_calls(session, found["calls"], found["entries"]))
    removed = {kind: counts[kind] for kind in KINDS if counts[kind]}
    audit(CALLER_ERASE, actor=actor, target=mask(number), detail={"removed": removed})
    session.commit()
    return removed


def leftovers(session: Session, raw_number: str) -> int:
    """Rows still about the number (0 after an erasure), audio rows included; for checks."""
    number = normalise(raw_number)
    found = _caller(session, number)
    total = sum(len(ids) for ids in found.values())
    total += _count(session, VoicemailAudio.voicemail_id, found["messages"])
    total += _count(session, ConversationAudio.recording_id, found["recordings"])
    session.commit()
    return total
