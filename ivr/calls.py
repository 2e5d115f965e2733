"""The call log: one row per CallSid and its ordered events, written idempotently."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ivr.extensions import utcnow
from ivr.flow import Event, Turn
from ivr.models import Call, CallEvent, Outcome

TERMINAL = {"completed", "busy", "failed", "no-answer", "canceled"}
STATUSES = ["queued", "initiated", "ringing", "in-progress", "answered", *sorted(TERMINAL)]
# Status callbacks and failures are logged apart from the menu's steps, so that neither takes the
# place of a step that Twilio will retry.
STATUS_STEP = -1
FAILURE_STEP = -1000


@dataclass(frozen=True)
class CallFacts:
    """What Twilio tells us about a call on every webhook."""

    sid: str
    account_sid: str
    from_number: str
    to_number: str
    caller_name: str
    direction: str
    status: str


def insert_new(session: Session, model: type[Any], key: list[str]) -> Any:
    """An INSERT of ``model`` that writes nothing, and raises nothing, if ``key`` is taken.

    ON CONFLICT DO NOTHING (PostgreSQL and SQLite alike) needs no savepoint around it: a
    duplicate no longer aborts the transaction, and every savepoint was two more round trips on
    each webhook.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model).on_conflict_do_nothing(index_elements=key)


def open_call(session: Session, facts: CallFacts) -> Call:
    """The call's row, created on first sight; safe against Twilio's retries arriving at once."""
    call = session.scalar(select(Call).where(Call.sid == facts.sid))
    if call is not None:
        return call
    created = session.scalar(
        insert_new(session, Call, ["sid"])
        .values(
            sid=facts.sid,
            account_sid=facts.account_sid,
            from_number=facts.from_number,
            to_number=facts.to_number,
            caller_name=facts.caller_name,
            direction=facts.direction,
            status=facts.status or "in-progress",
            started_at=utcnow(),
        )
        .returning(Call)
    )
    if created is None:
        # Another request for the same call won the insert; use its row.
        return session.scalars(select(Call).where(Call.sid == facts.sid)).one()
    return created


def _add_events(session: Session, call: Call, step: int, events: list[Event]) -> bool:
    """Insert a step's events unless that step is already logged; True if written now."""
    now = utcnow()
    rows = [
        {
            "call_id": call.id,
            "step": step,
            "position": position,
            # Keep the order visible even where the clock does not tick between them.
            "at": now + timedelta(microseconds=position),
            "kind": event.kind,
            "node": event.node,
            "detail": event.detail,
        }
        for position, event in enumerate(events)
    ]
    if not rows:
        taken = select(CallEvent.id).where(CallEvent.call_id == call.id, CallEvent.step == step)
        return session.scalar(taken.limit(1)) is None
    # The step's first event claims the step: a retry of it, even one racing this request, finds
    # (call, step, 0) taken and writes nothing.
    claim = insert_new(session, CallEvent, ["call_id", "step", "position"]).values(rows[0])
    if session.scalar(claim.returning(CallEvent.id)) is None:
        return False
    if rows[1:]:
        session.execute(insert(CallEvent), rows[1:])
    return True


def record_turn(session: Session, call: Call, step: int, turn: Turn) -> bool:
    """Log what one webhook did to a call, once per step however often Twilio retries it."""
    if not _add_events(session, call, step, turn.events):
        return False
    if turn.visited:
        call.menu_path = ">".join([*call.path, *turn.visited])
    if turn.language:
        call.language = turn.language
    if turn.outcome and call.outcome is None:
        call.outcome = turn.outcome
    return True


def record_status(
    session: Session, call: Call, status: str, duration: int | None, sequence: int | None
) -> None:
    """Apply Twilio's status callback; a finished call gets its end, length and outcome."""
    position = STATUSES.index(status) if status in STATUSES else len(STATUSES)
    detail: dict[str, object] = {"status": status}
    if duration is not None:
        detail["duration"] = duration
    if sequence is not None:
        detail["sequence"] = sequence
    if not _add_events(session, call, STATUS_STEP - position, [Event("status", None, detail)]):
        return
    if call.status in TERMINAL and status not in TERMINAL:
        return  # a late "ringing" must not reopen a finished call
    call.status = status
    if status in TERMINAL:
        call.ended_at = call.ended_at or utcnow()
        if duration is not None:
            call.duration = duration
        elif call.duration is None:
            call.duration = int((call.ended_at - call.started_at).total_seconds())
        if call.outcome is None:
            call.outcome = Outcome.ABANDONED if status == "completed" else Outcome.FAILED


def record_failure(session: Session, call: Call, step: int, error: str) -> None:
    """Note in the call's history that a webhook failed at ``step``."""
    _add_events(
        session, call, FAILURE_STEP - step, [Event("error", None, {"error": error, "step": step})]
    )


def log_event(
    session: Session, call: Call, kind: str, node: str | None = None, **detail: object
) -> None:
    """Add an event that is not a menu step (queue announcements, agent actions)."""
    session.add(
        CallEvent(call_id=call.id, step=None, kind=kind, node=node, detail=detail, at=utcnow())
    )
