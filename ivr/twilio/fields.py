"""Fields of Twilio's requests, read and checked: SIDs, statuses, numbers, call facts."""

from __future__ import annotations

import re

from flask import abort, request

from ivr.callflow.call_log import CallFacts
from ivr.text import whole_number

CALL_SID = re.compile(r"CA[0-9a-zA-Z]{32}")
ACCOUNT_SID = re.compile(r"AC[0-9a-zA-Z]{32}")


# A status or result word: QueueResult, DialCallStatus, CallStatus.
WORD = re.compile(r"[a-z][a-z-]{1,30}")
CALL_STATUS = re.compile(r"[a-z][a-z-]{1,20}")


FIELD_LIMIT = 256


def field(name: str, *, pattern: re.Pattern[str] | None = None, required: bool = False) -> str:
    """A form field, checked: a clear 400 instead of a 500 when it is missing or malformed."""
    value = request.form.get(name, "")
    if not value:
        if required:
            abort(400, f"{name} is required")
        return ""
    if len(value) > FIELD_LIMIT:
        abort(400, f"{name} is longer than {FIELD_LIMIT} characters")
    if pattern is not None and not pattern.fullmatch(value):
        abort(400, f"{name} is malformed")
    return value


# Twilio's numbers: seconds (a call lasts at most 24 hours), places in line (at most 5000).
ONE_DAY = 86_400


QUEUE_PLACES = 5_000


def twilio_number(name: str, *, high: int = ONE_DAY) -> int | None:
    """A whole number Twilio sent (seconds, unless ``high`` says otherwise), or None if absent.

    Negative or absurd values (beyond ``high``) get a clear 400, rather than being written
    into the call's figures.
    """
    value = field(name)
    if not value:
        return None
    number = whole_number(value, 9)
    if number is None or number > high:
        abort(400, f"{name} must be a whole number from 0 to {high}")
    return number


def call_facts() -> CallFacts:
    """The call fields every voice webhook carries."""
    return CallFacts(
        sid=field("CallSid", pattern=CALL_SID, required=True),
        account_sid=field("AccountSid", pattern=ACCOUNT_SID),
        from_number=field("From")[:64],
        to_number=field("To")[:64],
        caller_name=field("CallerName")[:128],
        direction=field("Direction")[:32] or "inbound",
        status=field("CallStatus", pattern=CALL_STATUS) or "in-progress",
    )


def int_arg(name: str, default: int, *, low: int, high: int) -> int:
    """A small whole number from the query string (our own action URLs), checked."""
    raw = request.args.get(name)
    if raw is None:
        return default
    number = whole_number(raw)
    if number is None or not low <= number <= high:
        abort(400, f"query parameter {name} must be a whole number from {low} to {high}")
    return number
