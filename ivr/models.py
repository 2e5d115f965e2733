"""Tables owned by the call side: calls and their events, orders, API tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from flask_login import UserMixin
from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ivr.clock import utcnow
from ivr.database import UTCDateTime, db, trigrams


class Outcome(StrEnum):
    """How a call ended, from the hotline's point of view."""

    SELF_SERVICE = "self_service"
    AGENT = "agent"
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    ABANDONED = "abandoned"
    FAILED = "failed"


class Call(db.Model):
    """One phone call, one row per Twilio CallSid."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    account_sid: Mapped[str] = mapped_column(String(64), default="")
    from_number: Mapped[str] = mapped_column(String(64), default="", index=True)
    to_number: Mapped[str] = mapped_column(String(64), default="")
    caller_name: Mapped[str] = mapped_column(String(128), default="")
    direction: Mapped[str] = mapped_column(String(32), default="inbound")
    status: Mapped[str] = mapped_column(String(32), default="in-progress")
    language: Mapped[str | None] = mapped_column(String(16))
    menu_path: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[Outcome | None] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration: Mapped[int | None] = mapped_column()
    rating: Mapped[int | None] = mapped_column()

    events: Mapped[list[CallEvent]] = relationship(
        back_populates="call", order_by="CallEvent.id", cascade="all, delete-orphan"
    )

    @property
    def path(self) -> list[str]:
        """The menu nodes visited, in order."""
        return self.menu_path.split(">") if self.menu_path else []


class CallEvent(db.Model):
    """Something that happened in a call: a node visited, a key pressed, a lookup made."""

    __tablename__ = "call_events"
    # A Twilio retry repeats a step; the unique key turns the repeat into a no-op.
    __table_args__ = (UniqueConstraint("call_id", "step", "position", name="uq_call_events_step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    # None for events that are not a step of the menu (queue announcements, agent actions).
    step: Mapped[int | None] = mapped_column()
    position: Mapped[int] = mapped_column(default=0)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    node: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    call: Mapped[Call] = relationship(back_populates="events")


class Wrapup(db.Model):
    """What an agent filed after a call: a disposition code from the menu and a note.

    One per call and agent: saving again replaces it, so a double submit leaves one row.
    """

    __tablename__ = "wrapups"
    __table_args__ = (UniqueConstraint("call_id", "agent_id", name="uq_wrapups_call_agent"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    disposition: Mapped[str] = mapped_column(String(40), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    agent: Mapped[Agent] = relationship()


# Calls of one outcome, newest first (the call list's filter); also every lookup by outcome.
Index("ix_calls_outcome_started_at", Call.outcome, Call.started_at)
# The figures' calls per hour and outcome, read from the index alone.
Index("ix_calls_started_at_outcome", Call.started_at, Call.outcome)
# The call log's search by part of a number: trigram indexes on PostgreSQL (see trigrams()).
Index("ix_calls_from_number_trgm", Call.from_number, **trigrams("from_number"))
Index("ix_calls_to_number_trgm", Call.to_number, **trigrams("to_number"))
# The figures' ratings of answered calls, looked up by id without reading the calls.
Index(
    "ix_calls_rated",
    Call.id,
    Call.rating,
    sqlite_where=Call.rating.is_not(None),
    postgresql_where=Call.rating.is_not(None),
)
Index("ix_call_events_call_step", CallEvent.call_id, CallEvent.step)


class Order(db.Model):
    """An order's delivery status, imported from the shop (``flask orders import``)."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    status: Mapped[str] = mapped_column(String(32))
    carrier: Mapped[str] = mapped_column(String(64), default="")
    eta: Mapped[str] = mapped_column(String(32), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Scope(StrEnum):
    """What an API token may do."""

    READ = "read"  # calls, messages, audio: every GET under /api/v1
    WRITE = "write"  # case status, presence, take-next
    METRICS = "metrics"  # /metrics for Prometheus
    ERASE = "erase"  # erase everything about one caller number (never in a default token)


class ApiToken(db.Model):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Comma-separated Scope values; tokens older than scopes were given all of them.
    scopes: Mapped[str] = mapped_column(String(64), default=Scope.READ.value)

    @property
    def scope_set(self) -> frozenset[str]:
        """The token's scopes as a set."""
        return frozenset(s for s in self.scopes.split(",") if s)

    @property
    def is_full(self) -> bool:
        """Whether the token may do everything (every token made before scopes is)."""
        return self.scope_set >= {Scope.READ, Scope.WRITE, Scope.METRICS}


class AuditEvent(db.Model):
    """One line of the audit log: who did what to which thing, when, from where.

    Append-only: the app adds rows (``ivr.audit.audit``) and never changes or removes one.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(160), default="", index=True)
    target: Mapped[str] = mapped_column(String(255), default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Presence(StrEnum):
    """Whether an agent can be offered a caller."""

    AVAILABLE = "available"
    BUSY = "busy"
    AWAY = "away"


class Role(StrEnum):
    """What an agent may do in the web app."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"


class Agent(UserMixin, db.Model):
    """Someone who answers callers: their phone, languages and topics, and presence."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    # What colleagues call them (李明); "" shows the sign-in name.
    display_name: Mapped[str] = mapped_column(String(64), default="", server_default="")
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[Role] = mapped_column(String(16), default=Role.AGENT)
    phone: Mapped[str] = mapped_column(String(64), default="")
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    presence: Mapped[Presence] = mapped_column(String(16), default=Presence.AWAY)
    presence_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    wrapup_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locale: Mapped[str] = mapped_column(String(8), default="")  # "": follow the browser
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set while the agent may not sign in, act through the API or be offered a caller.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of every session's id: raising it ends all of the agent's sessions, in every process.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    # Offers of an automatic queue let ring out or declined in a row; answered ones reset it.
    missed_offers: Mapped[int] = mapped_column(default=0, server_default="0")
    last_offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # round robin
    # When the agent's latest web session ends (sign-in plus its lifetime); None when signed
    # out or never signed in on the web. The distributor sets the agent away once it passes.
    session_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Given by a supervisor: sees callers' numbers whole (others see them masked, 138****8000).
    sees_numbers: Mapped[bool] = mapped_column(default=False, server_default=false())

    @property
    def shown_name(self) -> str:
        """The name pages show: the display name, else the sign-in name."""
        return self.display_name or self.name

    @property
    def may_see_numbers(self) -> bool:
        """Whether caller numbers are shown to this agent whole."""
        return self.role == Role.SUPERVISOR or self.sees_numbers

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        """Flask-Login's word for an account that may sign in."""
        return self.disabled_at is None

    def get_id(self) -> str:
        """The session's user id: the agent and the epoch it was signed in under."""
        return f"{self.id}:{self.session_epoch}"


class SignInThrottle(db.Model):
    """Recent failed sign-ins of one account name or one client address, shared by processes."""

    __tablename__ = "sign_in_throttles"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # "name:li", "addr:10.0.0.7"
    failures: Mapped[int] = mapped_column(default=0)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FormKeyUse(db.Model):
    """A web form sent once: the first answer, given again to the same form sent again.

    Keyed by a digest of the form's one-time key, its agent, URL and fields (never the fields
    themselves), so every web process on every machine sees the same uses.
    """

    __tablename__ = "form_key_uses"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[int | None]
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Where the first answer sent the browser, and its notices; empty while it is being done.
    location: Mapped[str | None] = mapped_column(String(2000))
    notices: Mapped[list[Any] | None] = mapped_column(JSON)


class AgentNotice(db.Model):
    """Something an agent is told on their inbox and board until they mark it seen: a case of
    theirs given to someone else, or given to them.

    ``kind`` picks the sentence (ivr/web/notices.py) and ``detail`` its values, so it reads in
    the language of whoever sees it, whenever that is.
    """

    __tablename__ = "agent_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FormDraft(db.Model):
    """What a form held when it could not be done (its session had ended), until it is sent again."""

    __tablename__ = "form_drafts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # a random token
    agent_id: Mapped[int | None]  # the agent whose session it was, when the request still said
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(2000))  # the form's URL
    page: Mapped[str] = mapped_column(String(2000))  # the page the form is on
    fields: Mapped[dict[str, list[str]]] = mapped_column(JSON)


class EntryState(StrEnum):
    """Where a caller stands in a queue."""

    WAITING = "waiting"  # in Twilio's queue
    OFFERED = "offered"  # an agent is being called for them
    BRIDGED = "bridged"  # talking to an agent
    CALLBACK = "callback"  # left the queue asking to be called back; keeps their place
    DIALING = "dialing"  # an agent is calling them back
    DONE = "done"  # answered (or called back)
    LEFT = "left"  # left without an agent: message, timeout, queue full
    MOVED = "moved"  # a supervisor moved the caller to another queue (a new stay there)
    ABANDONED = "abandoned"  # hung up while waiting


class QueueEntry(db.Model):
    """One caller's stay in one queue, from entering to leaving."""

    __tablename__ = "queue_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    queue: Mapped[str] = mapped_column(String(64), index=True)
    topic: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    node: Mapped[str] = mapped_column(String(64))
    from_number: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[EntryState] = mapped_column(String(16), default=EntryState.WAITING, index=True)
    result: Mapped[str | None] = mapped_column(String(32))
    leave_reason: Mapped[str | None] = mapped_column(String(32))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    wait_seconds: Mapped[int | None] = mapped_column()
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bridged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    talk_seconds: Mapped[int | None] = mapped_column()
    agent_call_sid: Mapped[str | None] = mapped_column(String(64))
    # Twilio's QueueTime at the last announcement: the queue's own clock decides the next one.
    announced_wait: Mapped[int | None] = mapped_column()
    announcements: Mapped[int] = mapped_column(default=0)
    # The call's step of the Enqueue action: webhooks after the queue are numbered from it.
    step: Mapped[int | None] = mapped_column()
    conference_sid: Mapped[str | None] = mapped_column(String(64))  # the conversation's room
    # The agent id whose transfer offered this stay (None: the queue offered it). No foreign key:
    # SQLite would rebuild the table under its figures triggers, and agents are disabled, not
    # deleted.
    transferred_from: Mapped[int | None] = mapped_column()
    # A call-back's leg to the customer (the caller's own call has ended): in the room with the agent.
    caller_leg: Mapped[str | None] = mapped_column(String(64))


# The figures of a period, read from the index alone: every column period_stats groups by.
Index(
    "ix_queue_entries_figures",
    QueueEntry.entered_at,
    QueueEntry.queue,
    QueueEntry.state,
    QueueEntry.leave_reason,
    QueueEntry.bridged_at,
    QueueEntry.wait_seconds,
    QueueEntry.call_id,
)


class PresenceChange(db.Model):
    """One change of an agent's presence: what it became, why, and from when.

    A wrap-up writes two rows at once, the second (available again) dated when it ends; a change
    during the wrap-up removes that second row. The rows in order give each state's length.
    """

    __tablename__ = "agent_presence_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    presence: Mapped[Presence] = mapped_column(String(16))
    # chosen, ringing, talking, wrapup, call_over, missed, withdrawn, failed, signed_out,
    # session_expired, disabled
    reason: Mapped[str] = mapped_column(String(32))
    began_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The caller being rung for, talked to or wrapped up after.
    entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("queue_entries.id", ondelete="SET NULL"), index=True
    )


Index("ix_agent_presence_changes_agent", PresenceChange.agent_id, PresenceChange.began_at)
Index("ix_agent_presence_changes_began_at", PresenceChange.began_at)


class OfferOutcome(StrEnum):
    """How an offer of a caller to an agent ended."""

    ANSWERED = "answered"
    MISSED = "missed"  # rang out, busy, declined, or the agent's leg failed
    WITHDRAWN = "withdrawn"  # the caller hung up while the agent's phone rang


class AgentOffer(db.Model):
    """A caller in line offered to an agent (their phone rang), and how it ended."""

    __tablename__ = "agent_offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("queue_entries.id", ondelete="CASCADE"), index=True
    )
    queue: Mapped[str] = mapped_column(String(64))
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[OfferOutcome | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32), default="")  # Twilio's, for a missed one


# An agent's open offer (at most one), found at its end.
Index("ix_agent_offers_agent_open", AgentOffer.agent_id, AgentOffer.ended_at)
Index("ix_agent_offers_offered_at", AgentOffer.offered_at)
# The hold, resume and transfer events of a period, for the figures per agent and queue.
Index("ix_call_events_kind_at", CallEvent.kind, CallEvent.at)
