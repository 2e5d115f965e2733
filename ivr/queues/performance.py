"""Figures per agent and per queue for a period: offers, answers, talk, hold, wrap-up, transfers.

Read from the offers and presence changes the hotline keeps (``agent_history``), the queue stays,
and the call events the conversation logs (``held``, ``resumed``, ``transferred``,
``conversation_ended``, each naming the agent).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from ivr.models import (
    Agent,
    AgentOffer,
    Call,
    CallEvent,
    OfferOutcome,
    PresenceChange,
    QueueEntry,
)
from ivr.queues.stats import period_stats

HOLD_KINDS = ("held", "resumed", "conversation_ended")


@dataclass
class Tally:
    """What one agent (or one queue) did in the period, as counts and sums of seconds."""

    offered: int = 0
    answered: int = 0
    missed: int = 0
    withdrawn: int = 0
    answer_seconds: float = 0.0  # from the offer to the answer, over the answered offers
    talks: int = 0
    talk_seconds: int = 0
    hold_seconds: float = 0.0
    holds: int = 0
    wrapups: int = 0
    wrapup_seconds: float = 0.0
    transfers: int = 0
    ratings: list[int] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """The figures as the page and the CSV show them (seconds, averages rounded)."""
        return {
            "offered": self.offered,
            "answered": self.answered,
            "missed": self.missed,
            "withdrawn": self.withdrawn,
            "average_answer": _average(self.answer_seconds, self.answered),
            "talk": self.talk_seconds,
            "average_talk": _average(self.talk_seconds, self.talks),
            "hold": round(self.hold_seconds),
            "holds": self.holds,
            "wrapup": round(self.wrapup_seconds),
            "average_wrapup": _average(self.wrapup_seconds, self.wrapups),
            "transfers": self.transfers,
            "average_rating": (
                round(sum(self.ratings) / len(self.ratings), 2) if self.ratings else None
            ),
            "ratings": len(self.ratings),
        }


def _average(total: float, count: int) -> float | None:
    return round(total / count, 1) if count else None


def hold_times(
    events: Iterable[CallEvent], ends: dict[int, datetime], now: datetime
) -> dict[tuple[int, str], tuple[float, int]]:
    """Seconds on hold and holds, per call and agent, from ``held``/``resumed`` events in order.

    A hold that was never resumed ends with the agent's ``conversation_ended``, else the call's
    end (``ends``), else now.
    """
    since: dict[tuple[int, str], datetime] = {}
    held: dict[tuple[int, str], tuple[float, int]] = defaultdict(lambda: (0.0, 0))

    def close(key: tuple[int, str], at: datetime) -> None:
        began = since.pop(key, None)
        if began is not None:
            seconds, count = held[key]
            held[key] = (seconds + max(0.0, (at - began).total_seconds()), count + 1)

    for event in sorted(events, key=lambda e: (e.at, e.id)):
        key = (event.call_id, str((event.detail or {}).get("agent") or ""))
        if event.kind == "held":
            since.setdefault(key, event.at)
        elif event.kind in ("resumed", "conversation_ended"):
            close(key, event.at)
    for key in list(since):
        close(key, min(ends.get(key[0]) or now, now))
    return dict(held)


def performance(
    session: Session, since: datetime, until: datetime, target: float, now: datetime
) -> dict[str, Any]:
    """Per agent and per queue, for offers, answers and events between ``since`` and ``until``."""
    names = dict(session.execute(select(Agent.id, Agent.name)).all())
    agents: dict[str, Tally] = defaultdict(Tally)
    queues: dict[str, Tally] = defaultdict(Tally)

    def both(agent_id: int | None, queue: str | None) -> list[Tally]:
        found = []
        if agent_id is not None and agent_id in names:
            found.append(agents[names[agent_id]])
        if queue:
            found.append(queues[queue])
        return found

    _count_offers(session, since, until, both)
    _count_talks(session, since, until, both)
    _count_wrapups(session, since, until, now, both)
    _count_events(session, since, until, now, names, agents, queues)
    stays = period_stats(session, since, until, target)
    queue_rows = []
    for name in sorted(set(queues) | set(stays["queues"])):
        row = queues[name].row()
        stay = stays["queues"].get(name, {})
        offered = stay.get("offered", 0)
        # The callers, as the figures page counts them: entered in the period, how they left.
        row.update(
            callers=offered,
            answered=stay.get("answered", 0),
            average_answer=stay.get("average_wait"),
            abandoned=stay.get("abandoned", 0),
            abandonment=round(stay.get("abandoned", 0) / offered, 3) if offered else None,
            service_level=stay.get("service_level"),
            average_rating=stay.get("average_rating"),
            ratings=stay.get("ratings", 0),
        )
        queue_rows.append({"queue": name, **row})
    agent_rows = [{"agent": name, **agents[name].row()} for name in sorted(agents)]
    return {"from": since, "to": until, "agents": agent_rows, "queues": queue_rows}


def _count_offers(session: Session, since: datetime, until: datetime, both: Any) -> None:
    offers = session.execute(
        select(AgentOffer.agent_id, AgentOffer.queue, AgentOffer.outcome,
               AgentOffer.offered_at, AgentOffer.ended_at)
        .where(AgentOffer.offered_at >= since, AgentOffer.offered_at <= until)
    )  # fmt: skip
    for agent_id, queue, outcome, offered_at, ended_at in offers:
        for tally in both(agent_id, queue):
            tally.offered += 1
            if outcome == OfferOutcome.ANSWERED:
                tally.answered += 1
                tally.answer_seconds += (ended_at - offered_at).total_seconds()
            elif outcome == OfferOutcome.MISSED:
                tally.missed += 1
            elif outcome == OfferOutcome.WITHDRAWN:
                tally.withdrawn += 1


def _count_talks(session: Session, since: datetime, until: datetime, both: Any) -> None:
    """Talk time and ratings of the conversations that began in the period."""
    talks = session.execute(
        select(QueueEntry.agent_id, QueueEntry.queue, QueueEntry.talk_seconds, Call.rating)
        .join(Call, Call.id == QueueEntry.call_id)
        .where(
            QueueEntry.bridged_at >= since,
            QueueEntry.bridged_at <= until,
            QueueEntry.agent_id.is_not(None),
        )
    )
    for agent_id, queue, talk, rating in talks:
        # Only the agent's: the queue's ratings are those of the figures page.
        for tally in both(agent_id, None):
            if rating is not None:
                tally.ratings.append(rating)
        for tally in both(agent_id, queue):
            if talk is not None:
                tally.talks += 1
                tally.talk_seconds += talk


def _count_wrapups(
    session: Session, since: datetime, until: datetime, now: datetime, both: Any
) -> None:
    """Wrap-ups begun in the period, each lasting until the agent's next change (or now)."""
    after = aliased(PresenceChange)
    ended = (
        select(after.began_at)
        .where(after.agent_id == PresenceChange.agent_id, after.id > PresenceChange.id)
        .order_by(after.id)
        .limit(1)
        .scalar_subquery()
    )
    wrapups = session.execute(
        select(PresenceChange.agent_id, QueueEntry.queue, PresenceChange.began_at, ended)
        .outerjoin(QueueEntry, QueueEntry.id == PresenceChange.entry_id)
        .where(
            PresenceChange.reason == "wrapup",
            PresenceChange.began_at >= since,
            PresenceChange.began_at <= until,
        )
    )
    for agent_id, queue, began, end in wrapups:
        seconds = max(0.0, (min(end or now, now) - began).total_seconds())
        for tally in both(agent_id, queue):
            tally.wrapups += 1
            tally.wrapup_seconds += seconds


def _count_events(
    session: Session,
    since: datetime,
    until: datetime,
    now: datetime,
    names: dict[int, str],
    agents: dict[str, Tally],
    queues: dict[str, Tally],
) -> None:
    """Holds and transfers, by the agent the event names and the queue the call was answered from."""
    events = session.scalars(
        select(CallEvent).where(
            CallEvent.kind.in_((*HOLD_KINDS, "transferred")),
            CallEvent.at >= since,
            CallEvent.at <= until,
        )
    ).all()
    if not events:
        return
    calls = {e.call_id for e in events}
    queue_of = dict(
        session.execute(
            select(QueueEntry.call_id, QueueEntry.queue)
            .where(QueueEntry.call_id.in_(calls), QueueEntry.bridged_at.is_not(None))
            .order_by(QueueEntry.bridged_at)
        ).all()
    )
    ends = dict(session.execute(select(Call.id, Call.ended_at).where(Call.id.in_(calls))).all())
    known = set(names.values())

    def tallies(call_id: int, agent: str) -> list[Tally]:
        found = [agents[agent]] if agent in known else []
        if call_id in queue_of:
            found.append(queues[queue_of[call_id]])
        return found

    for (call_id, agent), (seconds, count) in hold_times(
        [e for e in events if e.kind in HOLD_KINDS], ends, now
    ).items():
        for tally in tallies(call_id, agent):
            tally.hold_seconds += seconds
            tally.holds += count
    for event in events:
        if event.kind == "transferred":
            for tally in tallies(event.call_id, str((event.detail or {}).get("agent") or "")):
                tally.transfers += 1
