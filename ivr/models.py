"""Tables owned by the call side: calls and their events, orders, API tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ivr.extensions import UTCDateTime, db, utcnow


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
    outcome: Mapped[Outcome | None] = mapped_column(String(32), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration: Mapped[int | None] = mapped_column()

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
    step: Mapped[int] = mapped_column()
    position: Mapped[int] = mapped_column(default=0)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    node: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    call: Mapped[Call] = relationship(back_populates="events")


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


class ApiToken(db.Model):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
