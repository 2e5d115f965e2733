"""Wrap-up after a conversation: the agent files a disposition and a note on the call, then is
free again at once instead of when HOTLINE_WRAPUP_SECONDS run out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ivr.callflow.menu import Menu
from ivr.clock import iso, utcnow
from ivr.models import Agent, Call, CallEvent, EntryState, Presence, QueueEntry, Wrapup
from ivr.queues.agents import AgentError

MAX_NOTE = 2000
# Call events that name the agent who talked to the caller (``to``: who a transfer went to).
SPOKE_WITH = ("bridged", "callback_done", "conversation_ended", "transferred")


def check_disposition(menu: Menu, code: str) -> str:
    """The code if the menu lists it (any code, even none, when the menu lists none)."""
    if menu.dispositions and not code:
        raise AgentError("choose a disposition: %(allowed)s", allowed=", ".join(menu.dispositions))
    if menu.dispositions and code not in menu.dispositions:
        raise AgentError(
            "unknown disposition '%(value)s'; the menu has %(allowed)s",
            value=code,
            allowed=", ".join(menu.dispositions),
        )
    return code


def served(session: Session, call: Call, agent: Agent) -> bool:
    """Whether the agent talked to this call's caller (or was put through to them)."""
    held = select(QueueEntry.id).where(
        QueueEntry.call_id == call.id,
        QueueEntry.agent_id == agent.id,
        or_(QueueEntry.bridged_at.is_not(None), QueueEntry.state == EntryState.DONE),
    )
    if session.scalar(held.limit(1)) is not None:
        return True
    events = session.scalars(
        select(CallEvent).where(CallEvent.call_id == call.id, CallEvent.kind.in_(SPOKE_WITH))
    )
    return any(agent.name in (e.detail.get("agent"), e.detail.get("to")) for e in events)


def save_wrapup(
    session: Session, call: Call, agent: Agent, menu: Menu, *, disposition: str, note: str
) -> Wrapup:
    """File the agent's wrap-up on the call, replacing theirs if saved before; ends the
    agent's wrap-up time. The caller commits (and then triggers distribution)."""
    if not served(session, call, agent):
        raise AgentError("%(name)s did not talk to this caller", name=agent.name)
    values = {
        "disposition": check_disposition(menu, disposition.strip()),
        "note": note.strip()[:MAX_NOTE],
        "saved_at": utcnow(),
    }
    row = _wrapup_of(session, call, agent)
    if row is None:
        try:
            with session.begin_nested():  # a double submit in another process may insert first
                row = Wrapup(call_id=call.id, agent_id=agent.id, **values)
                session.add(row)
        except IntegrityError:
            row = _wrapup_of(session, call, agent)
    if row is None:  # pragma: no cover (the other insert was rolled back meanwhile)
        raise AgentError("the wrap-up could not be saved; try again")
    for name, value in values.items():
        setattr(row, name, value)
    end_wrapup(agent)
    return row


def _wrapup_of(session: Session, call: Call, agent: Agent) -> Wrapup | None:
    return session.scalar(
        select(Wrapup).where(Wrapup.call_id == call.id, Wrapup.agent_id == agent.id)
    )


def end_wrapup(agent: Agent) -> None:
    """The agent's wrap-up time ends now (they may be offered the next caller)."""
    now = utcnow()
    if agent.wrapup_until is not None and agent.wrapup_until > now:
        agent.wrapup_until = now


def to_wrap_up(session: Session, agent: Agent) -> QueueEntry | None:
    """The agent's last conversation if it is over and they have not filed its wrap-up.

    The last bridged caller or callback they made; none while they are busy (talking, or their
    phone rings for the next one).
    """
    if agent.presence == Presence.BUSY:
        return None
    last = session.scalar(
        select(QueueEntry)
        .where(
            QueueEntry.agent_id == agent.id,
            or_(QueueEntry.bridged_at.is_not(None), QueueEntry.state == EntryState.DONE),
        )
        .order_by(
            func.coalesce(
                QueueEntry.bridged_at, QueueEntry.offered_at, QueueEntry.entered_at
            ).desc(),
            QueueEntry.id.desc(),
        )
        .limit(1)
    )
    if last is None:
        return None
    filed = select(Wrapup.id).where(Wrapup.call_id == last.call_id, Wrapup.agent_id == agent.id)
    return None if session.scalar(filed) is not None else last


def wrapups_by_call(session: Session, call_ids: Iterable[int]) -> dict[int, list[Wrapup]]:
    """The wrap-ups of these calls, oldest first, by call id."""
    found: dict[int, list[Wrapup]] = {}
    ids = list(call_ids)
    # In slices: a period's export may name more calls than SQLite takes parameters.
    for start in range(0, len(ids), 500):
        rows = session.scalars(
            select(Wrapup)
            .where(Wrapup.call_id.in_(ids[start : start + 500]))
            .options(selectinload(Wrapup.agent))
            .order_by(Wrapup.saved_at, Wrapup.id)
        )
        for row in rows:
            found.setdefault(row.call_id, []).append(row)
    return found


def wrapup_json(row: Wrapup) -> dict[str, Any]:
    """A wrap-up as the API and exports show it."""
    return {
        "agent": row.agent.name,
        "disposition": row.disposition,
        "note": row.note,
        "saved_at": iso(row.saved_at),
    }


def wrapup_cells(rows: list[Wrapup] | None) -> list[str]:
    """A call's wrap-ups as the CSV's disposition, note and agent cells ("; " between agents)."""
    rows = rows or []
    return ["; ".join(r.disposition for r in rows), "; ".join(r.note for r in rows),
            "; ".join(r.agent.name for r in rows)]  # fmt: skip
