"""Queue figures: what the queues look like now, and how a period went."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, case, func, literal_column, select
from sqlalchemy.orm import Session

from ivr.callflow.menu import Menu
from ivr.day_counts import Tally, tallied
from ivr.models import Agent, Call, EntryState, Presence, QueueEntry
from ivr.queues.agents import can_serve, ready
from ivr.queues.entries import WAITING
from ivr.queues.waiting import queue_name


def queues_now(session: Session, menu: Menu, now: datetime) -> list[dict[str, Any]]:
    """Each queue of the menu: callers waiting, the longest wait, agents available and signed in."""
    agents = session.scalars(
        select(Agent).where(Agent.presence != Presence.AWAY, Agent.disabled_at.is_(None))
    ).all()
    waiting = session.scalars(
        select(QueueEntry).where(QueueEntry.state.in_((*WAITING, EntryState.CALLBACK)))
    ).all()
    return queue_rows(menu, agents, waiting, now)


def queue_rows(menu: Menu, agents: Sequence[Any], waiting: Iterable[Any], now: datetime
               ) -> list[dict[str, Any]]:  # fmt: skip
    """The figures of ``queues_now`` from the agents present and the entries not yet served.

    Agents and entries may be rows of their columns: the agents' presence, wrap-up, disabling,
    languages and topics; the entries' queue, state and entry time.
    """
    by_queue: dict[str, list[Any]] = defaultdict(list)
    for entry in waiting:
        by_queue[entry.queue].append(entry)
    topics = sorted({str(n.settings["queue"]) for n in menu.nodes.values() if n.type == "queue"})
    # Each agent's readiness once, not once per queue: the live boards ask every second.
    signed_in: Counter[tuple[str, str]] = Counter()
    available: Counter[tuple[str, str]] = Counter()
    for agent in agents:
        free = ready(agent, now)
        for skill in ((t, lang) for t in topics for lang in menu.languages):
            if can_serve(agent, *skill):
                signed_in[skill] += 1
                available[skill] += free
    rows = []
    for topic in topics:
        for lang in menu.languages:
            name = queue_name(topic, lang)
            entries = by_queue.get(name, [])
            in_line = [e for e in entries if e.state in WAITING]
            oldest = min((e.entered_at for e in in_line), default=None)
            rows.append(
                {
                    "queue": name,
                    "topic": topic,
                    "language": lang,
                    "waiting": len(in_line),
                    "callbacks_waiting": sum(e.state == EntryState.CALLBACK for e in entries),
                    "longest_wait": int((now - oldest).total_seconds()) if oldest else 0,
                    "agents_available": available[topic, lang],
                    "agents_signed_in": signed_in[topic, lang],
                }
            )
    return rows


def percentile(counts: Mapping[int, int], share: float) -> int | None:
    """The nearest-rank percentile (``share`` 0.9 for the 90th) of values counted by value."""
    rank = math.ceil(share * sum(counts.values()))
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    return None


# A tuple: a month's figures make thousands, and a frozen dataclass took three times as long.
class Stays(NamedTuple):
    """Stays in one queue that the figures cannot tell apart, and how many there were."""

    queue: str
    state: str
    leave_reason: str | None
    wait: int | None  # seconds until an agent answered; None if none did
    count: int


@dataclass(frozen=True)
class Ratings:
    """How many of the calls answered from a queue were rated, and the ratings' sum."""

    count: int = 0
    total: int = 0


def summarise(groups: list[Stays], ratings: Ratings, target: float) -> dict[str, Any]:
    """The figures of a set of queue entries, given in groups, and their calls' ratings."""
    offered = sum(g.count for g in groups)
    waits: Counter[int] = Counter()
    for group in groups:
        if group.wait is not None:
            waits[group.wait] += group.count
    answered = waits.total()
    within = sum(n for wait, n in waits.items() if wait <= target)
    return {
        "offered": offered,
        "answered": answered,
        "abandoned": sum(g.count for g in groups if g.state == EntryState.ABANDONED),
        "left_for_message": sum(
            g.count for g in groups if g.leave_reason in ("message", "timeout")
        ),
        "callbacks_requested": sum(g.count for g in groups if g.leave_reason == "callback"),
        "average_wait": (
            round(sum(wait * n for wait, n in waits.items()) / answered, 1) if answered else None
        ),
        "p90_wait": percentile(waits, 0.9),
        "answered_within_target": within,
        "service_level": round(within / offered, 3) if offered else None,
        "average_rating": round(ratings.total / ratings.count, 2) if ratings.count else None,
        "ratings": ratings.count,
    }


def count_stays(session: Session, since: datetime, until: datetime) -> Iterable[Sequence[Any]]:
    """Queue stays entered in the period, in groups the figures cannot tell apart."""
    # Counted by the database, from an index that holds every column read (a few thousand
    # groups for a month: the 90th percentile needs every wait).
    answered = QueueEntry.bridged_at.is_not(None)
    # A literal 0: PostgreSQL groups by the expression only if it is written the same both times.
    wait = case((answered, func.coalesce(QueueEntry.wait_seconds, literal_column("0"))))
    return session.execute(
        select(QueueEntry.queue, QueueEntry.state, QueueEntry.leave_reason, wait, func.count())
        .where(QueueEntry.entered_at >= since, QueueEntry.entered_at <= until)
        .group_by(QueueEntry.queue, QueueEntry.state, QueueEntry.leave_reason, wait)
    )


def count_ratings(session: Session, since: datetime, until: datetime) -> Iterable[Sequence[Any]]:
    """Per queue, how many calls answered from it in the period were rated, and the sum."""
    # A month's entries read row by row, and their calls found by a full scan on PostgreSQL,
    # took 80-120 ms; ix_calls_rated holds the rated calls' ratings.
    return session.execute(
        select(QueueEntry.queue, func.count(), func.sum(Call.rating))
        .join(Call, and_(Call.id == QueueEntry.call_id, Call.rating.is_not(None)))
        .where(
            QueueEntry.entered_at >= since,
            QueueEntry.entered_at <= until,
            QueueEntry.bridged_at.is_not(None),
        )
        .group_by(QueueEntry.queue)
    )


STAYS = Tally("queue-stays-1", 4, count_stays)
RATINGS = Tally("queue-ratings-1", 1, count_ratings)


def period_stats(
    session: Session, since: datetime, until: datetime, target: float
) -> dict[str, Any]:
    """Figures for callers who entered a queue between ``since`` and ``until``."""
    groups = [Stays(*row) for row in tallied(session, STAYS, since, until)]
    ratings = {
        queue: Ratings(count, total)
        for queue, count, total in tallied(session, RATINGS, since, until)
    }
    by_queue: dict[str, list[Stays]] = defaultdict(list)
    for group in groups:
        by_queue[group.queue].append(group)
    every = Ratings(sum(r.count for r in ratings.values()), sum(r.total for r in ratings.values()))
    return {
        "from": since,
        "to": until,
        "answer_target_seconds": target,
        "total": summarise(groups, every, target),
        "queues": {
            name: summarise(rows, ratings.get(name, Ratings()), target)
            for name, rows in sorted(by_queue.items())
        },
    }
