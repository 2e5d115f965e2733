"""Notices for one agent (a case given away, a case given to them), kept until they see them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ivr.clock import utcnow
from ivr.models import AgentNotice

SHOWN = 20  # the newest unseen ones; older ones wait for these to be marked seen


def notify(session: Session, agent_id: int, kind: str, **detail: Any) -> None:
    """Tell an agent something on their next page (the caller commits)."""
    session.add(AgentNotice(agent_id=agent_id, kind=kind, detail=detail, created_at=utcnow()))


def unseen(session: Session, agent_id: int) -> Sequence[AgentNotice]:
    """The agent's notices not yet marked seen, oldest first."""
    newest = (
        select(AgentNotice)
        .where(AgentNotice.agent_id == agent_id, AgentNotice.seen_at.is_(None))
        .order_by(AgentNotice.id.desc())
        .limit(SHOWN)
    )
    return list(reversed(session.scalars(newest).all()))


def mark_seen(session: Session, agent_id: int, notice_ids: Sequence[int]) -> int:
    """Mark the agent's own notices seen (another's are left alone); how many were marked."""
    done = session.execute(
        update(AgentNotice)
        .where(AgentNotice.agent_id == agent_id, AgentNotice.id.in_(notice_ids),
               AgentNotice.seen_at.is_(None))
        .values(seen_at=utcnow())
    )  # fmt: skip
    return int(getattr(done, "rowcount", 0) or 0)
