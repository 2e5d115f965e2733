"""What agents did and when: each presence change with its reason, each offer and its end.

Written as the changes happen (one insert each, no reads), read by the board ("busy for 12 min")
and by the figures per agent and queue.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, object_session

from ivr.models import (
    Agent,
    AgentOffer,
    EntryState,
    OfferOutcome,
    Presence,
    PresenceChange,
    QueueEntry,
)


def note_presence(
    agent: Agent, presence: Presence, reason: str, at: datetime, entry_id: int | None = None
) -> None:
    """Keep one change of the agent's presence (added to the agent's session; the caller commits)."""
    session = object_session(agent)
    if session is not None:
        session.add(PresenceChange(agent_id=agent.id, presence=presence, reason=reason,
                                   began_at=at, entry_id=entry_id))  # fmt: skip


def forget_planned(agent: Agent, now: datetime) -> None:
    """Drop the changes dated after ``now``: the end of a wrap-up that was cut short."""
    session = object_session(agent)
    if session is not None:
        session.execute(
            delete(PresenceChange).where(
                PresenceChange.agent_id == agent.id, PresenceChange.began_at > now
            )
        )


def last_entry(agent: Agent, now: datetime) -> int | None:
    """The caller of the agent's latest change: the one a wrap-up follows."""
    session = object_session(agent)
    if session is None:
        return None
    return session.scalar(
        select(PresenceChange.entry_id)
        .where(PresenceChange.agent_id == agent.id, PresenceChange.began_at <= now)
        .order_by(PresenceChange.began_at.desc(), PresenceChange.id.desc())
        .limit(1)
    )


def offer_made(session: Session, entry: QueueEntry, agent: Agent, at: datetime) -> None:
    """The agent's phone rings for this caller (or call-back request): busy, ringing.

    Only callers in line count as offers; a call-back is the agent calling out.
    """
    if entry.state == EntryState.OFFERED:
        session.add(AgentOffer(agent_id=agent.id, entry_id=entry.id, queue=entry.queue,
                               offered_at=at))  # fmt: skip
    note_presence(agent, Presence.BUSY, "ringing", at, entry.id)


def end_offer(
    session: Session, agent_id: int, outcome: OfferOutcome, at: datetime, status: str = ""
) -> None:
    """The agent's open offer ended (an agent holds at most one)."""
    session.execute(
        update(AgentOffer)
        .where(AgentOffer.agent_id == agent_id, AgentOffer.ended_at.is_(None))
        .values(ended_at=at, outcome=outcome, status=status[:32])
        .execution_options(synchronize_session=False)
    )


def offer_answered(session: Session, entry: QueueEntry, agent: Agent, at: datetime) -> None:
    """The agent took the caller: the offer is answered, the agent busy talking."""
    end_offer(session, agent.id, OfferOutcome.ANSWERED, at)
    note_presence(agent, Presence.BUSY, "talking", at, entry.id)


WHY_BACK = {"withdrawn": "withdrawn", "failed": "failed", "disabled": "disabled"}


def offer_given_back(
    session: Session, entry: QueueEntry, agent: Agent, why: str, at: datetime
) -> str:
    """The agent's offer ended unanswered: the caller hung up (withdrawn) or it was missed with
    status ``why`` (Twilio's, or "failed" when the call could not be placed).

    Answers the reason the agent's next presence is noted with.
    """
    withdrawn = why == "withdrawn" or entry.state == EntryState.ABANDONED
    outcome = OfferOutcome.WITHDRAWN if withdrawn else OfferOutcome.MISSED
    end_offer(session, agent.id, outcome, at, "" if withdrawn else why)
    return "withdrawn" if withdrawn else WHY_BACK.get(why, "missed")


class PresenceNow(NamedTuple):
    """An agent's presence as the board shows it: what, why and since when."""

    presence: Presence
    reason: str
    since: datetime


def presence_now(agent: Agent, change: PresenceChange | None, now: datetime) -> PresenceNow:
    """The agent's presence now, from their latest change (busy through a wrap-up)."""
    if agent.disabled_at is not None:
        return PresenceNow(Presence.AWAY, "disabled", agent.disabled_at)
    expired = agent.session_expires_at
    if expired is not None and expired <= now and agent.presence != Presence.AWAY:
        # The tick sets them away (where a queue distributes by itself); they are away already.
        return PresenceNow(Presence.AWAY, "session_expired", expired)
    if change is not None and change.presence == agent.presence:
        return PresenceNow(agent.presence, change.reason, change.began_at)
    if change is not None and change.reason == "wrapup" and agent.presence == Presence.AVAILABLE:
        return PresenceNow(Presence.BUSY, "wrapup", change.began_at)
    # No history (an agent from before it was kept): the row's own time.
    return PresenceNow(agent.presence, "", agent.presence_at)


def presences_now(
    session: Session, agents: Iterable[Agent], now: datetime
) -> dict[int, PresenceNow]:
    """Each agent's presence now, by agent id: one query for their latest changes."""
    agents = list(agents)
    latest = (
        select(PresenceChange.agent_id, func.max(PresenceChange.id).label("id"))
        .where(PresenceChange.agent_id.in_([a.id for a in agents]), PresenceChange.began_at <= now)
        .group_by(PresenceChange.agent_id)
        .subquery()
    )
    changes = {
        change.agent_id: change
        for change in session.scalars(
            select(PresenceChange).join(latest, PresenceChange.id == latest.c.id)
        )
    }
    return {a.id: presence_now(a, changes.get(a.id), now) for a in agents}
