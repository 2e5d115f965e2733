"""Queue figures: what the queues look like now, and how a period went."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.agents import ready
from ivr.menu import Menu
from ivr.models import Agent, Call, EntryState, Presence, QueueEntry
from ivr.queues import WAITING, can_serve, queue_name


def queues_now(session: Session, menu: Menu, now: datetime) -> list[dict[str, Any]]:
    """Each queue of the menu: callers waiting, the longest wait, agents available and signed in."""
    agents = session.scalars(select(Agent).where(Agent.presence != Presence.AWAY)).all()
    waiting = session.scalars(
        select(QueueEntry).where(QueueEntry.state.in_((*WAITING, EntryState.CALLBACK)))
    ).all()
    by_queue: dict[str, list[QueueEntry]] = defaultdict(list)
    for entry in waiting:
        by_queue[entry.queue].append(entry)
    topics = sorted({str(n.settings["queue"]) for n in menu.nodes.values() if n.type == "queue"})
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
                    "agents_available": sum(
                        ready(a, now) and can_serve(a, topic, lang) for a in agents
                    ),
                    "agents_signed_in": sum(can_serve(a, topic, lang) for a in agents),
                }
            )
    return rows


def percentile(values: list[int], share: float) -> int | None:
    """The nearest-rank percentile (``share`` 0.9 for the 90th)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def summarise(entries: list[QueueEntry], ratings: dict[int, int], target: float) -> dict[str, Any]:
    """The figures of a set of queue entries."""
    answered = [e for e in entries if e.bridged_at is not None]
    waits = [e.wait_seconds or 0 for e in answered]
    rated = [ratings[e.call_id] for e in answered if e.call_id in ratings]
    within = sum(w <= target for w in waits)
    return {
        "offered": len(entries),
        "answered": len(answered),
        "abandoned": sum(e.state == EntryState.ABANDONED for e in entries),
        "left_for_message": sum(e.leave_reason in ("message", "timeout") for e in entries),
        "callbacks_requested": sum(e.leave_reason == "callback" for e in entries),
        "average_wait": round(sum(waits) / len(waits), 1) if waits else None,
        "p90_wait": percentile(waits, 0.9),
        "answered_within_target": within,
        "service_level": round(within / len(entries), 3) if entries else None,
        "average_rating": round(sum(rated) / len(rated), 2) if rated else None,
        "ratings": len(rated),
    }


def period_stats(
    session: Session, since: datetime, until: datetime, target: float
) -> dict[str, Any]:
    """Figures for callers who entered a queue between ``since`` and ``until``."""
    entries = list(
        session.scalars(
            select(QueueEntry).where(QueueEntry.entered_at >= since, QueueEntry.entered_at <= until)
        )
    )
    call_ids = {e.call_id for e in entries}
    ratings: dict[int, int] = {}
    if call_ids:
        rows = session.execute(
            select(Call.id, Call.rating).where(Call.id.in_(call_ids), Call.rating.is_not(None))
        )
        ratings = {ident: rating for ident, rating in rows if rating is not None}
    by_queue: dict[str, list[QueueEntry]] = defaultdict(list)
    for entry in entries:
        by_queue[entry.queue].append(entry)
    return {
        "from": since,
        "to": until,
        "answer_target_seconds": target,
        "total": summarise(entries, ratings, target),
        "queues": {
            name: summarise(rows, ratings, target) for name, rows in sorted(by_queue.items())
        },
    }
