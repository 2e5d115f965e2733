"""Agents: accounts, presence, and taking the caller who has waited longest."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ivr.callflow.call_log import TERMINAL
from ivr.callflow.menu import Menu
from ivr.clock import site_timezone, utcnow
from ivr.models import Agent, Call, EntryState, Presence, QueueEntry, Role
from ivr.queues.waiting import caller_still_there, can_serve
from ivr.twilio.rest import create_call
from ivr.twilio.urls import with_overrides

log = logging.getLogger(__name__)
OFFERABLE = (EntryState.WAITING, EntryState.CALLBACK)
CLAIMED = (EntryState.OFFERED, EntryState.DIALING)
E164 = re.compile(r"\+[0-9]{8,15}")
MIN_PASSWORD = 8


class AgentError(ValueError):
    """An agent action that cannot be done; the message says why.

    ``template`` and ``values`` let a page show the message in the reader's language.
    """

    def __init__(self, template: str, **values: str) -> None:
        super().__init__(template % values if values else template)
        self.template, self.values = template, values

    def translated(self) -> str:
        """The message in the page's language."""
        return gettext(self.template, **self.values)


def menu_topics(menu: Menu) -> list[str]:
    """The topics the menu has queues for."""
    return sorted({str(node.settings["queue"]) for node in menu.nodes.values()
                   if node.type == "queue"})  # fmt: skip


def check_profile(menu: Menu, *, languages: list[str], topics: list[str], phone: str) -> None:
    """Refuse languages and topics the menu does not have and phones that are not E.164.

    The CLI and the supervisors' page both check with this; an empty phone means none yet.
    """
    checks = (
        (languages, sorted(menu.languages),
         "give at least one language; the menu has %(allowed)s",
         "unknown language '%(value)s'; the menu has %(allowed)s"),
        (topics, menu_topics(menu),
         "give at least one topic; the menu has %(allowed)s",
         "unknown topic '%(value)s'; the menu has %(allowed)s"),
    )  # fmt: skip
    for values, allowed, none_given, unknown in checks:
        if not values:
            raise AgentError(none_given, allowed=", ".join(allowed))
        for value in values:
            if value not in allowed:
                raise AgentError(unknown, value=value, allowed=", ".join(allowed))
    if phone and not E164.fullmatch(phone):
        raise AgentError(
            "phone '%(value)s' is not an E.164 number: + then 8 to 15 digits, e.g. +8613900000001",
            value=phone,
        )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AgentError("the password needs at least %(n)s characters", n=str(MIN_PASSWORD))


def create_agent(
    session: Session,
    name: str,
    *,
    password: str,
    role: Role = Role.AGENT,
    phone: str = "",
    languages: list[str] | None = None,
    topics: list[str] | None = None,
) -> Agent:
    """A new agent account (the password is stored hashed)."""
    if session.scalar(select(Agent).where(Agent.name == name)) is not None:
        raise AgentError(f"an agent named {name!r} exists already")
    _check_password(password)
    agent = Agent(
        name=name,
        password_hash=generate_password_hash(password),
        role=role,
        phone=phone,
        languages=languages or ["zh"],
        topics=topics or ["general"],
        presence=Presence.AWAY,
        timezone=site_timezone(),
    )
    session.add(agent)
    session.flush()
    return agent


def find_agent(session: Session, name: str) -> Agent:
    """The agent with this name, or AgentError."""
    agent = session.scalar(select(Agent).where(Agent.name == name))
    if agent is None:
        raise AgentError(f"no agent named {name!r}")
    return agent


def end_sessions(agent: Agent) -> None:
    """End every session the agent has, in every web process (the caller commits)."""
    agent.session_epoch = (agent.session_epoch or 0) + 1


def set_password(agent: Agent, password: str) -> None:
    """A new password (a reset by a supervisor or the CLI); the agent's sessions end."""
    _check_password(password)
    agent.password_hash = generate_password_hash(password)
    end_sessions(agent)


def change_own_password(agent: Agent, current: str, new: str) -> None:
    """An agent's own change, allowed only with the password they have now."""
    if not agent.password_hash or not check_password_hash(agent.password_hash, current):
        raise AgentError("the current password is wrong")
    set_password(agent, new)


def disable_agent(agent: Agent) -> None:
    """Switch an agent off: away, signed out everywhere, refused by sign-in, API and queues.

    If their phone rings with an offer, answering it only hangs up and the caller goes back in
    line (ivr/queue_calls.py).
    """
    if agent.disabled_at is None:
        agent.disabled_at = utcnow()
    set_presence(agent, Presence.AWAY)
    end_sessions(agent)


def enable_agent(agent: Agent) -> None:
    """Let a disabled agent sign in again (they start away)."""
    agent.disabled_at = None


def profile_of(agent: Agent) -> dict[str, Any]:
    """What an agent answers and where they are called, as the audit log keeps it."""
    return {"languages": list(agent.languages), "topics": list(agent.topics), "phone": agent.phone}


def update_profile(
    agent: Agent,
    menu: Menu,
    *,
    languages: list[str] | None = None,
    topics: list[str] | None = None,
    phone: str | None = None,
) -> None:
    """Change what an agent answers and where they are called; None keeps a value."""
    languages = agent.languages if languages is None else languages
    topics = agent.topics if topics is None else topics
    phone = agent.phone if phone is None else phone
    check_profile(menu, languages=languages, topics=topics, phone=phone)
    agent.languages, agent.topics = list(dict.fromkeys(languages)), list(dict.fromkeys(topics))
    agent.phone = phone


def active_agent(agent: Agent) -> Agent:
    """The agent, or AgentError when they are disabled (for actions taken on their behalf)."""
    if agent.disabled_at is not None:
        raise AgentError("%(name)s is disabled", name=agent.name)
    return agent


def set_presence(agent: Agent, presence: Presence) -> None:
    """Switch an agent between available, busy and away (a disabled agent stays away)."""
    agent.presence = Presence.AWAY if agent.disabled_at is not None else presence
    agent.presence_at = utcnow()
    if agent.presence != Presence.AVAILABLE:
        agent.wrapup_until = None


def ready(agent: Agent, now: datetime) -> bool:
    """Whether the agent can be offered a caller now (available and out of wrap-up)."""
    wrapping = agent.wrapup_until is not None and agent.wrapup_until > now
    active = agent.disabled_at is None
    return active and agent.presence == Presence.AVAILABLE and not wrapping


@dataclass(frozen=True)
class Offer:
    """A caller (or callback) handed to an agent."""

    entry_id: int
    call_sid: str
    queue: str
    callback: bool
    waited: int


def claim_longest_waiting(session: Session, agent: Agent, now: datetime) -> QueueEntry | None:
    """Assign the agent the entry that has waited longest among queues they serve.

    A compare-and-set on the entry's state means two agents taking at once never get the
    same caller: the loser moves on to the next candidate.
    """
    candidates = session.scalars(
        select(QueueEntry)
        .where(
            QueueEntry.state.in_(OFFERABLE),
            QueueEntry.agent_id.is_(None),
            # A callback is for a caller who has hung up; anyone else must still be on the line.
            or_(QueueEntry.state == EntryState.CALLBACK, caller_still_there()),
        )
        .order_by(QueueEntry.entered_at, QueueEntry.id)
    ).all()
    for entry in candidates:
        if not can_serve(agent, entry.topic, entry.language):
            continue
        offered = EntryState.OFFERED if entry.state == EntryState.WAITING else EntryState.DIALING
        claimed = session.execute(
            update(QueueEntry)
            .where(
                QueueEntry.id == entry.id,
                QueueEntry.state == entry.state,
                QueueEntry.agent_id.is_(None),
            )
            .values(state=offered, agent_id=agent.id, offered_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            session.refresh(entry)
            return entry
    return None


def take_next(session: Session, agent: Agent, config: Any, urls: Any) -> Offer | None:
    """Connect the agent to the caller who has waited longest (or call back the oldest request).

    ``urls(endpoint, **values)`` builds the absolute URLs Twilio fetches for the agent's leg.
    """
    now = utcnow()
    active_agent(agent)
    if not ready(agent, now):
        raise AgentError(f"{agent.name} is {agent.presence} and cannot take a caller now")
    if not agent.phone:
        raise AgentError(f"{agent.name} has no phone number to be called on")
    entry = claim_longest_waiting(session, agent, now)
    if entry is None:
        session.commit()
        return None
    callback = entry.state == EntryState.DIALING
    set_presence(agent, Presence.BUSY)
    session.commit()
    endpoint = "agent.callback" if callback else "agent.connect"
    try:
        sid = create_call(
            config,
            to=agent.phone,
            from_=config.get("HOTLINE_CALLER_ID") or hotline_number(session, entry),
            url=urls(endpoint, entry=entry.id, agent=agent.id),
            status_callback=with_overrides(
                urls("agent.status", entry=entry.id, agent=agent.id), config
            ),
        )
    except Exception:
        # Whatever went wrong, the caller goes back in line and the agent is free again.
        session.rollback()
        release(session, entry, agent, presence=Presence.AVAILABLE)
        raise
    # The leg may have dequeued someone already, and the bridge swapped this claim with
    # another agent's (ivr/queue_calls.py): the sid goes on the entry the agent holds now;
    # a bridged entry got it from Twilio's DequeingCallSid.
    session.execute(
        update(QueueEntry)
        .where(QueueEntry.agent_id == agent.id, QueueEntry.state.in_(CLAIMED))
        .values(agent_call_sid=sid)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    waited = int((now - entry.entered_at).total_seconds())
    return Offer(entry.id, entry.call_sid, entry.queue, callback, waited)


def hotline_number(session: Session, entry: QueueEntry) -> str:
    """The number the caller dialled: what the agent's phone shows when no caller ID is set."""
    call = session.get(Call, entry.call_id)
    return call.to_number if call is not None and call.to_number else "anonymous"


def release(
    session: Session, entry: QueueEntry, agent: Agent | None, *, presence: Presence
) -> None:
    """Give an offered caller back to the queue (the agent did not answer or Twilio failed).

    A caller whose call ended meanwhile is not put back: their stay ends as abandoned.
    """
    if entry.state == EntryState.OFFERED:
        call = session.get(Call, entry.call_id)
        gone = call is not None and call.status in TERMINAL
        entry.state = EntryState.ABANDONED if gone else EntryState.WAITING
    elif entry.state == EntryState.DIALING:
        entry.state = EntryState.CALLBACK
    entry.agent_id = None
    entry.offered_at = None
    if agent is not None:
        set_presence(agent, presence)
    session.commit()


def finish_call(agent: Agent, wrapup_seconds: float) -> None:
    """After a conversation: available again once wrap-up is over."""
    set_presence(agent, Presence.AVAILABLE)
    agent.wrapup_until = utcnow() + timedelta(seconds=wrapup_seconds)
