"""Checks every Twilio webhook passes: signature, size, and well-formed fields."""

from __future__ import annotations

import functools
import hmac
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Request, abort, current_app, request
from twilio.request_validator import RequestValidator

from ivr.calls import CallFacts

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

CALL_SID = re.compile(r"CA[0-9a-zA-Z]{32}")
ACCOUNT_SID = re.compile(r"AC[0-9a-zA-Z]{32}")
CALL_STATUS = re.compile(r"[a-z][a-z-]{1,20}")
FIELD_LIMIT = 256


def public_url(req: Request) -> str:
    """The URL as Twilio requested it: what the signature covers.

    Behind a TLS proxy the app sees http://127.0.0.1:8000/…, Twilio signed https://public/…;
    so the configured PUBLIC_BASE_URL wins, then forwarded headers if trusted (ProxyFix).
    """
    base = current_app.config["PUBLIC_BASE_URL"]
    query = req.query_string.decode("latin-1")
    path = req.path + (f"?{query}" if query else "")
    if base:
        return base + path
    return req.url_root.rstrip("/") + path


def with_overrides(url: str, config: Mapping[str, Any]) -> str:
    """A status callback URL carrying Twilio's connection overrides (``#rc=3&rp=all``).

    Twilio answers only connection failures with a retry unless the URL asks for more; with
    these a callback we answer 503 (the database is down) is sent again.
    """
    overrides = config.get("TWILIO_CALLBACK_OVERRIDES", "")
    return f"{url}#{overrides}" if overrides else url


def signature_is_valid(req: Request) -> bool:
    """Whether X-Twilio-Signature matches this request for the configured auth token."""
    token = current_app.config["TWILIO_AUTH_TOKEN"]
    signature = req.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    params = req.form.to_dict(flat=False)
    # RequestValidator wants single values or lists; Twilio repeats no field, but a forger might.
    flat = {k: v if len(v) > 1 else v[0] for k, v in params.items()}
    validator = RequestValidator(token)
    url = public_url(req)
    # One HMAC for a genuine request; validate() would compute two (the URL with and without
    # its port) and is kept for the URLs that need the other one.
    given = signature.encode("utf-8", "replace")
    if hmac.compare_digest(validator.compute_signature(url, flat).encode(), given):
        return True
    # The fragment never reaches us; should Twilio sign the URL with the overrides it was
    # given, that URL is accepted too (only with the overrides we configured).
    overridden = with_overrides(url, current_app.config)
    if overridden != url and hmac.compare_digest(
        validator.compute_signature(overridden, flat).encode(), given
    ):
        return True
    return validator.validate(url, flat, signature)


def twilio_webhook(view: F) -> F:
    """Refuse a webhook that Twilio did not sign (403) or whose body is not a form (415)."""

    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if request.mimetype != "application/x-www-form-urlencoded":
            abort(415, "Twilio webhooks are form-encoded POSTs")
        token = current_app.config["TWILIO_AUTH_TOKEN"]
        if token:
            if not signature_is_valid(request):
                log.warning("refused %s: bad X-Twilio-Signature", request.path)
                abort(403, "X-Twilio-Signature is missing or does not match")
        elif current_app.config["HOTLINE_ENV"] != "development":
            abort(403, "no TWILIO_AUTH_TOKEN configured")
        return view(*args, **kwargs)

    return checked  # type: ignore[return-value]


def twilio_callback(view: F) -> F:
    """A signed status callback: Twilio ignores its answer, so a failure answers 503 to be retried."""
    checked = twilio_webhook(view)
    checked.twilio_callback = True  # type: ignore[attr-defined]
    return checked


def is_callback(endpoint: str | None) -> bool:
    """Whether ``endpoint`` is a status callback (see ``twilio_callback``)."""
    view = current_app.view_functions.get(endpoint or "")
    return bool(getattr(view, "twilio_callback", False))


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
    if not raw.isdigit() or not low <= int(raw) <= high:
        abort(400, f"query parameter {name} must be a whole number from {low} to {high}")
    return int(raw)
