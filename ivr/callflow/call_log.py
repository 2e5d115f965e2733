"""The call log: one row per CallSid and its ordered events, written idempotently.

The menu and status webhooks are most of a hotline's traffic, so their path is lean: the call is
read as a plain row (``CallState``), the flow decides, and then every write of the webhook is
made at once with Core statements built once (their SQL is compiled once) and committed. On
SQLite that keeps the single write lock for a few statements rather than for the whole webhook.
Webhooks that change other tables too (queues, recordings) work on the ORM ``Call`` through
``open_call`` and ``record_turn``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ivr.callflow.flow import Event, Turn
from ivr.clock import utcnow
from ivr.models import Call, CallEvent, EntryState, Outcome, QueueEntry

TERMINAL = {"completed", "busy", "failed", "no-answer", "canceled"}
STATUSES = ["queued", "initiated", "ringing", "in-progress", "answered", *sorted(TERMINAL)]
# Status callbacks and failures are logged apart from the menu's steps, so that neither takes the
# place of a step that Twilio will retry.
STATUS_STEP = -1
FAILURE_STEP = -1000

CALLS = Call.__table__
EVENTS = CallEvent.__table__
ENTRIES = QueueEntry.__table__


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


@dataclass(frozen=True)
class CallState:
    """A call's row as the menu and status webhooks need it."""

    id: int
    sid: str
    from_number: str
    to_number: str
    language: str | None
    menu_path: str
    status: str
    outcome: str | None
    started_at: datetime
    ended_at: datetime | None
    duration: int | None

    @property
    def path(self) -> list[str]:
        """The menu nodes visited, in order."""
        return self.menu_path.split(">") if self.menu_path else []


# Built once: SQLAlchemy then reuses their compiled SQL, which is most of the cost of a statement.
READ_CALL = select(*(CALLS.c[name] for name in CallState.__dataclass_fields__)).where(
    CALLS.c.sid == bindparam("b_sid")
)
SET_TURN = (
    update(CALLS)
    .where(CALLS.c.id == bindparam("b_id"))
    .values(
        menu_path=bindparam("b_menu_path"),
        language=func.coalesce(bindparam("b_language"), CALLS.c.language),
        outcome=func.coalesce(CALLS.c.outcome, bindparam("b_outcome")),
    )
)
SET_STATUS = (
    update(CALLS)
    .where(CALLS.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        ended_at=bindparam("b_ended_at"),
        duration=bindparam("b_duration"),
        outcome=bindparam("b_outcome"),
    )
)
# A final status ends the caller's wait: whatever Twilio sends late, they are no longer in line.
END_WAITS = (
    update(ENTRIES)
    .where(ENTRIES.c.call_id == bindparam("b_id"), ENTRIES.c.state == EntryState.WAITING)
    .values(
        state=EntryState.ABANDONED,
        left_at=func.coalesce(ENTRIES.c.left_at, bindparam("b_now", type_=ENTRIES.c.left_at.type)),
    )
)
ADD_EVENTS = insert(EVENTS)
STEP_TAKEN = (
    select(EVENTS.c.id)
    .where(EVENTS.c.call_id == bindparam("b_call_id"), EVENTS.c.step == bindparam("b_step"))
    .limit(1)
)


@functools.cache
def _new_only(dialect: str, table: Any, key: tuple[str, ...]) -> Any:
    """INSERT … ON CONFLICT (key) DO NOTHING, on PostgreSQL and SQLite alike.

    A duplicate then writes nothing and raises nothing, so no savepoint is needed around it.
    """
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing(index_elements=list(key))


def insert_new(session: Session, model: type[Any], key: list[str]) -> Any:
    """An INSERT of ``model`` that writes nothing, and raises nothing, if ``key`` is taken."""
    return _new_only(session.get_bind().dialect.name, model.__table__, tuple(key))


@functools.cache
def _new_with_id(dialect: str, table: Any, key: tuple[str, ...]) -> Any:
    """``_new_only`` returning the new row's id: None tells that ``key`` was taken.

    RETURNING rather than the rowcount, which psycopg leaves at -1 for these statements.
    """
    return _new_only(dialect, table, key).returning(table.c.id)


STEP_KEY = ("call_id", "step", "position")


# -- the lean path: menu and status webhooks --------------------------------------------------


def read_call(conn: Connection, sid: str) -> CallState | None:
    """The call's row, or None before its first webhook is logged."""
    row = conn.execute(READ_CALL, {"b_sid": sid}).first()
    return None if row is None else CallState(*row)


def _create(conn: Connection, facts: CallFacts, **values: Any) -> int | None:
    """Insert the call's row; its id, or None if another request for it got there first."""
    row = {
        "sid": facts.sid,
        "account_sid": facts.account_sid,
        "from_number": facts.from_number,
        "to_number": facts.to_number,
        "caller_name": facts.caller_name,
        "direction": facts.direction,
        "status": facts.status or "in-progress",
        "menu_path": "",
        "language": None,
        "outcome": None,
        "started_at": utcnow(),
    } | values
    return conn.execute(_new_with_id(conn.dialect.name, CALLS, ("sid",)), row).scalar()


def ensure_call(conn: Connection, facts: CallFacts) -> CallState:
    """The call's row, created on first sight; safe against Twilio's retries arriving at once."""
    call = read_call(conn, facts.sid)
    if call is None:
        _create(conn, facts)
        call = read_call(conn, facts.sid)
        assert call is not None
    return call


def _event_rows(call_id: int, step: int, events: list[Event]) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {
            "call_id": call_id,
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


def _claim(conn: Connection, call_id: int, step: int, events: list[Event]) -> bool:
    """Insert a step's events unless that step is already logged; True if written now.

    The step's first event claims the step: a retry of it, even one racing this request, finds
    (call, step, 0) taken and writes nothing.
    """
    rows = _event_rows(call_id, step, events)
    if not rows:
        return conn.execute(STEP_TAKEN, {"b_call_id": call_id, "b_step": step}).first() is None
    if conn.execute(_new_with_id(conn.dialect.name, EVENTS, STEP_KEY), rows[0]).first() is None:
        return False
    if rows[1:]:
        conn.execute(ADD_EVENTS, rows[1:])
    return True


def step_logged(conn: Connection, call_id: int, step: int) -> bool:
    """Whether the call's ``step`` is logged already (its webhook came, or a retry of it)."""
    return conn.execute(STEP_TAKEN, {"b_call_id": call_id, "b_step": step}).first() is not None


def _path_after(path: list[str], turn: Turn) -> str:
    return ">".join([*path, *turn.visited])


def log_turn(
    conn: Connection, facts: CallFacts, call: CallState | None, step: int, turn: Turn
) -> bool:
    """Log what one menu webhook did, once per step however often Twilio retries it.

    ``call`` is the row read before the flow ran (None on the call's first webhook).
    """
    if call is None:
        created = _create(
            conn,
            facts,
            menu_path=_path_after([], turn),
            language=turn.language,
            outcome=turn.outcome,
        )
        if created is not None:
            # A new row: no retry can have claimed its step yet.
            if turn.events:
                conn.execute(ADD_EVENTS, _event_rows(created, step, turn.events))
            return True
        call = ensure_call(conn, facts)
    if not _claim(conn, call.id, step, turn.events):
        return False
    if turn.visited or turn.language or turn.outcome:
        conn.execute(
            SET_TURN,
            {
                "b_id": call.id,
                "b_menu_path": _path_after(call.path, turn),
                "b_language": turn.language,
                "b_outcome": turn.outcome,
            },
        )
    return True


def log_status(
    conn: Connection, call: CallState, status: str, duration: int | None, sequence: int | None
) -> None:
    """Apply Twilio's status callback; a finished call gets its end, length and outcome."""
    position = STATUSES.index(status) if status in STATUSES else len(STATUSES)
    detail: dict[str, object] = {"status": status}
    if duration is not None:
        detail["duration"] = duration
    if sequence is not None:
        detail["sequence"] = sequence
    if not _claim(conn, call.id, STATUS_STEP - position, [Event("status", None, detail)]):
        return
    if call.ended_at is not None or (call.status in TERMINAL and status not in TERMINAL):
        # The first final status wins: a late "ringing" must not reopen a finished call, nor a
        # late "busy" turn a completed one into a failure (the history keeps both).
        return
    after = replace(call, status=status)
    if status in TERMINAL:
        ended_at = call.ended_at or utcnow()
        if duration is None and call.duration is None:
            duration = int((ended_at - call.started_at).total_seconds())
        after = replace(
            after,
            ended_at=ended_at,
            duration=call.duration if duration is None else duration,
            outcome=call.outcome
            or (Outcome.ABANDONED if status == "completed" else Outcome.FAILED),
        )
    conn.execute(
        SET_STATUS,
        {
            "b_id": call.id,
            "b_status": after.status,
            "b_ended_at": after.ended_at,
            "b_duration": after.duration,
            "b_outcome": after.outcome,
        },
    )
    if status in TERMINAL:
        conn.execute(END_WAITS, {"b_id": call.id, "b_now": after.ended_at})


def log_failure(conn: Connection, call_id: int, step: int, error: str) -> None:
    """Note in the call's history that a webhook failed at ``step``."""
    _claim(
        conn, call_id, FAILURE_STEP - step, [Event("error", None, {"error": error, "step": step})]
    )


# -- the ORM path: webhooks that change queues or recordings too ------------------------------


def open_call(session: Session, facts: CallFacts) -> Call:
    """The call's ORM row, created on first sight; safe against Twilio's retries arriving at once."""
    call = session.scalar(select(Call).where(Call.sid == facts.sid))
    if call is not None:
        return call
    _create(session.connection(), facts)
    return session.scalars(select(Call).where(Call.sid == facts.sid)).one()


def record_turn(session: Session, call: Call, step: int, turn: Turn) -> bool:
    """Log what one webhook did to a call, once per step however often Twilio retries it."""
    if not _claim(session.connection(), call.id, step, turn.events):
        return False
    if turn.visited:
        call.menu_path = _path_after(call.path, turn)
    if turn.language:
        call.language = turn.language
    if turn.outcome and call.outcome is None:
        call.outcome = turn.outcome
    return True


def log_event(
    session: Session, call: Call, kind: str, node: str | None = None, **detail: object
) -> None:
    """Add an event that is not a menu step (queue announcements, agent actions)."""
    session.add(
        CallEvent(call_id=call.id, step=None, kind=kind, node=node, detail=detail, at=utcnow())
    )
