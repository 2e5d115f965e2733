"""Quality checks kept: the rules' verdict on each message and conversation, stored and alerted.

The worker checks a message as soon as its transcript is stored, and the lead's conversation
worker calls ``check_conversation``; ``flask voicemail recheck`` applies changed rules to all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from flask import current_app, has_request_context
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.clock import utcnow
from ivr.twilio.urls import external_url
from voicemail.alerts import AlertError, deliver, flag_alert_text
from voicemail.models import (
    ConversationRecording,
    QualityCheck,
    QualityTag,
    Voicemail,
    VoicemailStatus,
)
from voicemail.quality import FLAG, Verdict
from voicemail.quality import check_conversation as conversation_verdict
from voicemail.quality import check_message as message_verdict
from voicemail.quality_rules import QualityRules

log = logging.getLogger(__name__)

MESSAGE, CONVERSATION = "message", "conversation"
RECHECK_BATCH = 200


def current_rules() -> QualityRules:
    """The rules the running app loaded at start-up."""
    return current_app.extensions["hotline.quality"]


def check_message(
    session: Session, message: Voicemail, *, rules: QualityRules | None = None, alert: bool = True
) -> QualityCheck:
    """Check a transcribed message, keep the verdict, and alert a supervisor of a new flag."""
    verdict = message_verdict(rules or current_rules(), message.transcript or "", message.category)
    check = _keep(
        session,
        verdict,
        kind=MESSAGE,
        voicemail_id=message.id,
        agent_id=None,
        call_sid=message.call_sid,
        at=message.created_at,
    )
    if alert:
        what = f"case {message.case_number} (voice message, {message.category})"
        _alert(session, check, what, message.from_number, "inbox.show", message_id=message.id)
    return check


def check_conversation(
    session: Session,
    recording: ConversationRecording,
    *,
    rules: QualityRules | None = None,
    alert: bool = True,
) -> QualityCheck:
    """Check a transcribed conversation's turns, keep the verdict, alert of a new flag."""
    verdict = conversation_verdict(rules or current_rules(), recording.turns or [], recording.queue)
    check = _keep(
        session,
        verdict,
        kind=CONVERSATION,
        recording_id=recording.id,
        agent_id=recording.agent_id,
        call_sid=recording.call_sid,
        at=recording.started_at,
    )
    if alert:
        what = f"conversation {recording.call_sid} ({recording.queue or 'queue'})"
        _alert(session, check, what, recording.from_number, "board.call", sid=recording.call_sid)
    return check


def check_after_transcription(session: Session, ident: int, *, conversation: bool = False) -> None:
    """The worker's step after a transcript is stored: a check that fails is logged, never
    the job's failure (``flask voicemail recheck`` can do it again)."""
    try:
        if conversation:
            recording = session.get(ConversationRecording, ident)
            if recording is not None:
                check_conversation(session, recording)
        else:
            message = session.get(Voicemail, ident)
            if message is not None:
                check_message(session, message)
    except Exception:
        what = "conversation" if conversation else "voicemail"
        log.exception("%s %s: the quality check failed", what, ident)
        session.rollback()


def _keep(
    session: Session,
    verdict: Verdict,
    *,
    kind: str,
    agent_id: int | None,
    call_sid: str,
    at: datetime,
    voicemail_id: int | None = None,
    recording_id: int | None = None,
) -> QualityCheck:
    """Insert or replace the check of one message or conversation, with its tags."""
    values = {
        "agent_id": agent_id,
        "call_sid": call_sid,
        "at": at,
        "score": verdict.score,
        "tags": verdict.tags,
        "matches": [m.as_json() for m in verdict.matches],
        "suggested_topic": verdict.suggested_topic,
        "checked_at": utcnow(),
    }
    same = (
        QualityCheck.voicemail_id == voicemail_id
        if voicemail_id is not None
        else QualityCheck.recording_id == recording_id
    )
    for _ in range(2):  # a second writer may insert between our look and our insert
        check = session.scalar(select(QualityCheck).where(same))
        if check is None:
            check = QualityCheck(
                kind=kind, voicemail_id=voicemail_id, recording_id=recording_id, **values
            )
            session.add(check)
        else:
            for name, value in values.items():
                setattr(check, name, value)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            continue
        session.execute(delete(QualityTag).where(QualityTag.check_id == check.id))
        session.add_all(QualityTag(check_id=check.id, tag=tag) for tag in verdict.tags)
        session.commit()
        return check
    raise RuntimeError(f"could not keep the quality check of {kind} {voicemail_id or recording_id}")


@contextmanager
def _urls() -> Iterator[None]:
    """url_for outside a request (the worker, the CLI)."""
    if has_request_context():
        yield
    else:
        with current_app.test_request_context():
            yield


def _alert(
    session: Session, check: QualityCheck, what: str, caller: str, endpoint: str, **values: object
) -> None:
    """Tell a supervisor about a check's flags, once."""
    flags = [tag for tag in check.tags if any(m["tag"] == tag and m["kind"] == FLAG
                                              for m in check.matches)]  # fmt: skip
    if not flags or check.alerted_at is not None:
        return
    said = [m["text"] for m in check.matches if m["kind"] == FLAG]
    with _urls():
        url = external_url(endpoint, **values)
    subject, body = flag_alert_text(what, flags, said, caller, url)
    fields = {"kind": check.kind, "flags": flags, "quality_check_id": check.id,
              "voicemail_id": check.voicemail_id, "recording_id": check.recording_id}  # fmt: skip
    try:
        channels = deliver(current_app.config, subject, body, url, fields)
    except AlertError as exc:
        log.warning("quality flag %s on %s: no supervisor alerted: %s", flags, what, exc)
        return
    check.alerted_at = utcnow()
    session.commit()
    log.info("quality flag %s on %s: supervisor alerted (%s)", flags, what, ", ".join(channels))


def recheck_all(session: Session, rules: QualityRules, *, alert: bool = False) -> tuple[int, int]:
    """Check every transcribed message and conversation again; return how many of each."""
    counts = []
    for model, check in (
        (Voicemail, check_message),
        (ConversationRecording, check_conversation),
    ):
        done = 0
        last = 0
        while True:
            batch = session.scalars(
                select(model)
                .where(model.status == VoicemailStatus.TRANSCRIBED, model.id > last)
                .order_by(model.id)
                .limit(RECHECK_BATCH)
            ).all()
            if not batch:
                break
            for row in batch:
                check(session, row, rules=rules, alert=alert)  # type: ignore[operator]
                done += 1
            last = batch[-1].id
            session.expunge_all()
        counts.append(done)
    return counts[0], counts[1]
