"""Agents: accounts, passwords, skills, presence, and the language their whispers are in."""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ivr.callflow.menu import Menu
from ivr.clock import site_timezone, utcnow
from ivr.hotline import hotline
from ivr.models import Agent, Presence, Role
from ivr.queues.agent_history import forget_planned, last_entry, note_presence

log = logging.getLogger(__name__)
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


SIGN_IN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
GENERATED_PASSWORD_BYTES = 9  # 12 characters of base64: easy to type once, then changed


def add_agent_from_page(
    session: Session,
    menu: Menu,
    *,
    name: str,
    display_name: str,
    role: Role,
    languages: list[str],
    topics: list[str],
    phone: str,
    password: str,
) -> tuple[Agent, str]:
    """A new agent as a supervisor fills the agents page in: checked as the CLI checks, with the
    password given, or a generated one when none is. Returns the agent and the password."""
    if not SIGN_IN_NAME.fullmatch(name):
        raise AgentError(
            "the sign-in name '%(value)s' must be letters, digits, '.', '_' or '-' (up to 64)",
            value=name,
        )
    check_profile(menu, languages=languages, topics=topics, phone=phone)
    password = password or secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
    if session.scalar(select(Agent).where(Agent.name == name)) is not None:
        raise AgentError("an agent named '%(value)s' exists already", value=name)
    agent = create_agent(session, name, password=password, role=role, phone=phone,
                         languages=list(dict.fromkeys(languages)),
                         topics=list(dict.fromkeys(topics)))  # fmt: skip
    agent.display_name = display_name
    return agent, password


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
    line (ivr/queues/entries.py).
    """
    if agent.disabled_at is None:
        agent.disabled_at = utcnow()
    set_presence(agent, Presence.AWAY, "disabled")
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


def set_presence(agent: Agent, presence: Presence, reason: str = "chosen") -> None:
    """Switch an agent between available, busy and away (a disabled agent stays away).

    A change is kept with its ``reason``; a change during a wrap-up ends it.
    """
    now = utcnow()
    presence = Presence.AWAY if agent.disabled_at is not None else presence
    if presence != agent.presence or (presence != Presence.AVAILABLE and wrapping(agent, now)):
        if wrapping(agent, now):
            forget_planned(agent, now)
        note_presence(agent, presence, reason, now)
    agent.presence = presence
    agent.presence_at = now
    if agent.presence != Presence.AVAILABLE:
        agent.wrapup_until = None


def choose_presence(agent: Agent, presence: Presence) -> None:
    """An agent (or a supervisor for them) sets their presence: missed offers start again."""
    set_presence(agent, presence)
    agent.missed_offers = 0


def wrapping(agent: Agent, now: datetime) -> bool:
    """Whether the agent is in wrap-up after a call (busy, though their row says available)."""
    return agent.wrapup_until is not None and agent.wrapup_until > now


def ready(agent: Agent, now: datetime) -> bool:
    """Whether the agent can be offered a caller now (available and out of wrap-up)."""
    active = agent.disabled_at is None
    return active and agent.presence == Presence.AVAILABLE and not wrapping(agent, now)


def finish_call(agent: Agent, wrapup_seconds: float) -> None:
    """After a conversation: busy in wrap-up, then available once it is over.

    Both changes are kept now, the second dated when the wrap-up ends, so no request has to
    come at that moment; a change in between removes it (``set_presence``). An agent who went
    away during the call (signed out, their session ran out, chose it) stays away.
    """
    if agent.presence == Presence.AWAY:
        return
    now = utcnow()
    until = now + timedelta(seconds=wrapup_seconds)
    free = agent.presence == Presence.AVAILABLE and not wrapping(agent, now)
    if wrapping(agent, now):  # noted already (the Dial's end, then the leg's status): moved on
        forget_planned(agent, now)
    elif wrapup_seconds > 0:
        note_presence(agent, Presence.BUSY, "wrapup", now, last_entry(agent, now))
    if wrapup_seconds > 0 or not free:
        note_presence(agent, Presence.AVAILABLE, "call_over", until)
    agent.presence = Presence.AVAILABLE
    agent.presence_at = now
    agent.wrapup_until = until


def sign_out(agent: Agent) -> None:
    """The agent signs out: every session ends and they are away until they are back."""
    end_sessions(agent)
    signed_out(agent)


def signed_out(agent: Agent) -> None:
    """The agent's sessions were ended (sign-out, a password reset): away, offered no caller."""
    agent.session_expires_at = None
    set_presence(agent, Presence.AWAY, "signed_out")


def expire_sessions(session: Session, now: datetime) -> list[Agent]:
    """Set away every agent whose web session has run out (the caller commits)."""
    expired = session.scalars(
        select(Agent).where(
            Agent.session_expires_at <= now,
            Agent.presence != Presence.AWAY,
        )
    ).all()
    for agent in expired:
        agent.session_expires_at = None
        set_presence(agent, Presence.AWAY, "session_expired")
    return list(expired)


def can_serve(agent: Agent, topic: str, language: str) -> bool:
    """Whether the agent handles this topic and speaks this language."""
    return topic in (agent.topics or []) and language in (agent.languages or [])


def agent_language(agent: Agent | None) -> str:
    """The menu language an agent hears their whispers in: their first one the menu speaks."""
    menu = hotline().menu
    for code in (agent.languages if agent else []) or []:
        if code in menu.languages:
            return code
    return next(iter(menu.languages))
