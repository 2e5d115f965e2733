"""What the queue and agent-leg webhooks read from Twilio's requests and our own signed URLs."""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import NotFound

from ivr.database import find
from ivr.models import QueueEntry
from ivr.text import whole_number
from ivr.twilio.fields import ONE_DAY, twilio_number


def queue_entry() -> QueueEntry:
    """The queue stay named in our URL (``entry=``), or 404."""
    ident = whole_number(request.args.get("entry", ""))
    entry = None if ident is None else find(QueueEntry, ident)
    if entry is None:
        raise NotFound("no such queue entry")
    return entry


def number(name: str, default: int = 0, *, high: int = ONE_DAY) -> int:
    """A whole number Twilio sent (a duration, a position), ``default`` when absent."""
    value = twilio_number(name, high=high)
    return default if value is None else value
