"""What an agent's board shows now: the queues, their presence, and the caller ringing or talking
with them (the screen pop), gathered from the database for the board's once-a-second poll."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.callflow.menu import Menu
from ivr.clock import iso
from ivr.models import Agent, Call, CallEvent, EntryState, Presence, QueueEntry
from ivr.queues.stats import queue_rows

# The states in which an entry belongs on some board: in line, offered, talking, called back.
ON_BOARDS = (EntryState.WAITING, EntryState.OFFERED, EntryState.BRIDGED, EntryState.CALLBACK,
             EntryState.DIALING)  # fmt: skip
# With an agent: their phone rings for the caller (or for a call back), or they talk.
WITH_AGENT = (EntryState.OFFERED, EntryState.DIALING, EntryState.BRIDGED)
EARLIER_CALLS = 5


# Only the columns the board reads: plain rows, not ORM objects, for a poll every second per agent.
ENTRY_COLUMNS = (QueueEntry.id, QueueEntry.queue, QueueEntry.state, QueueEntry.entered_at,
                 QueueEntry.agent_id, QueueEntry.offered_at)  # fmt: skip
AGENT_COLUMNS = (Agent.presence, Agent.wrapup_until, Agent.disabled_at, Agent.languages,
                 Agent.topics)  # fmt: skip


@dataclass(frozen=True)
class BoardState:
    """What one agent's board must show now, in a form that changes only when something happens.

    Waits are given as the times they started (the page counts the seconds), so ``version``
    stays the same from one poll to the next until a caller, an agent or a queue moves.
    """

    queues: list[dict[str, Any]]
    presence: str
    presence_at: str | None
    wrapup_until: str | None
    entry_id: int | None  # the entry offered to or bridged with the agent, if any
    entry_state: str | None

    @property
    def version(self) -> str:
        """A short fingerprint of the state (the board's ETag)."""
        facts = [self.queues, self.presence, self.presence_at, self.wrapup_until, self.entry_id,
                 self.entry_state]  # fmt: skip
        return hashlib.sha1(json.dumps(facts, default=str).encode()).hexdigest()[:20]


def board_state(session: Session, agent: Agent, menu: Menu, now: datetime) -> BoardState:
    """The board of ``agent`` now, from two indexed queries (entries by state, agents present)."""
    entries = session.execute(select(*ENTRY_COLUMNS).where(QueueEntry.state.in_(ON_BOARDS))).all()
    agents = session.execute(
        select(*AGENT_COLUMNS).where(Agent.presence != Presence.AWAY, Agent.disabled_at.is_(None))
    ).all()
    oldest: dict[str, datetime] = {}
    for entry in entries:
        if entry.state in (EntryState.WAITING, EntryState.OFFERED):
            oldest[entry.queue] = min(oldest.get(entry.queue, entry.entered_at), entry.entered_at)
    queues = []
    for row in queue_rows(menu, agents, entries, now):
        row.pop("longest_wait")
        queues.append(row | {"oldest_at": iso(oldest.get(row["queue"]))})
    mine = [e for e in entries if e.agent_id == agent.id and e.state in WITH_AGENT]
    # Talking to one caller while the phone rings for another is not possible; should two rows
    # say so for a moment (a replayed webhook), the latest offer is the one that matters.
    entry = max(mine, key=lambda e: (e.offered_at or e.entered_at, e.id), default=None)
    return BoardState(
        queues=queues,
        presence=str(agent.presence),
        presence_at=iso(agent.presence_at),
        wrapup_until=iso(agent.wrapup_until) if agent.wrapup_until and agent.wrapup_until > now
        else None,
        entry_id=entry.id if entry else None,
        entry_state=str(entry.state) if entry else None,
    )  # fmt: skip


@dataclass(frozen=True)
class OrderAsked:
    """An order number the caller keyed in during the call, and what the lookup answered."""

    number: str
    result: str  # found | not_found | failed
    status: str | None  # the status's name in the reader's language, when found


@dataclass(frozen=True)
class EarlierCall:
    """Another call from the same number."""

    sid: str
    started_at: datetime
    outcome: str | None
    rating: int | None


@dataclass(frozen=True)
class ScreenPop:
    """The caller an agent's phone rings for, or who talks with them: who, what, how long."""

    entry_id: int
    state: str
    callback: bool
    number: str
    call_sid: str
    queue: str
    language: str  # names from the menu, in the reader's language
    topic: str
    entered_at: str | None
    offered_at: str | None
    bridged_at: str | None
    waited: int | None  # seconds from entering the queue to the agent answering
    path: list[str]
    orders: list[OrderAsked]
    earlier: list[EarlierCall]
    rating: int | None  # the number's last rating, this call's or an earlier one's
    links: list[tuple[str, str]]  # messages, cases … that other packages know of

    def as_json(self) -> dict[str, Any]:
        """The pop as JSON values."""
        data = asdict(self)
        for call in data["earlier"]:
            call["started_at"] = iso(call["started_at"])
        return data


def screen_pop(
    session: Session,
    entry: QueueEntry,
    menu: Menu,
    language: str,
    caller_links: Callable[[Session, str], Sequence[tuple[str, str]]],
) -> ScreenPop:
    """Everything the board shows about ``entry``'s caller, names in ``language``."""
    call = session.get(Call, entry.call_id)
    lookups = session.scalars(
        select(CallEvent)
        .where(CallEvent.call_id == entry.call_id, CallEvent.kind == "order_lookup")
        .order_by(CallEvent.at, CallEvent.id)
    ).all()
    orders = [
        OrderAsked(
            number=str(e.detail.get("number", "")),
            result=str(e.detail.get("result", "")),
            status=menu.name_of(menu.order_statuses, str(e.detail["status"]), language)
            if e.detail.get("status")
            else None,
        )
        for e in lookups
    ]  # fmt: skip
    number = entry.from_number
    earlier: list[Call] = []
    rating = None
    if number:
        earlier = list(
            session.scalars(
                select(Call)
                .where(Call.from_number == number, Call.id != entry.call_id)
                .order_by(Call.started_at.desc(), Call.id.desc())
                .limit(EARLIER_CALLS)
            )
        )
        rating = session.scalar(
            select(Call.rating)
            .where(Call.from_number == number, Call.rating.is_not(None))
            .order_by(Call.started_at.desc(), Call.id.desc())
            .limit(1)
        )
    waited = None
    if entry.bridged_at is not None:
        waited = int((entry.bridged_at - entry.entered_at).total_seconds())
    return ScreenPop(
        entry_id=entry.id,
        state=str(entry.state),
        callback=entry.state == EntryState.DIALING or entry.leave_reason == "callback",
        number=number,
        call_sid=entry.call_sid,
        queue=entry.queue,
        language=menu.name_of(menu.language_names, entry.language, language),
        topic=menu.name_of(menu.topics, entry.topic, language),
        entered_at=iso(entry.entered_at),
        offered_at=iso(entry.offered_at),
        bridged_at=iso(entry.bridged_at),
        waited=waited,
        path=call.path if call else [],
        orders=orders,
        earlier=[EarlierCall(c.sid, c.started_at, c.outcome, c.rating) for c in earlier],
        rating=rating,
        links=[(str(label), url) for label, url in caller_links(session, number)] if number else [],
    )
