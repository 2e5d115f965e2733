"""Checks every Twilio webhook passes: signature, size, and well-formed fields."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Request, abort, current_app, request
from twilio.request_validator import (
    HMAC_SHA1,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from werkzeug.datastructures import MultiDict

from ivr.twilio.urls import public_url, with_overrides

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

HASHES = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}


def signature(
    secret: str, url: str, form: MultiDict[str, str], algorithm: str = HMAC_SHA1
) -> bytes:
    """Twilio's X-Twilio-Signature of a form POST to ``url``, as ``RequestValidator`` computes it.

    The HMAC (SHA-1 with the auth token, or the SharedKey's algorithm) of the URL followed by
    each field's name and value, sorted; base64. Written out so that the form is read as Flask
    parsed it, without the copy the validator needs (tests check both agree).
    """
    payload = url + "".join(
        name + value for name in sorted(form) for value in sorted(set(form.getlist(name)))
    )
    digest = hmac.new(secret.encode("utf-8"), payload.encode("utf-8"), HASHES[algorithm]).digest()
    return base64.b64encode(digest)


def signing_secret(req: Request, config: Mapping[str, Any]) -> tuple[str, str] | None:
    """The secret and algorithm this request must be signed with; None if we hold no such key.

    Without X-Twilio-Webhooks-Signature-Settings it is the auth token and HMAC-SHA1; with it,
    the SharedKey the header names (``key=<id>,algorithm=<name>``) and its algorithm.
    """
    settings = req.headers.get(SIGNATURE_SETTINGS_HEADER, "").strip()
    if not settings:  # absent or empty, as twilio's own helpers read it
        return config["TWILIO_AUTH_TOKEN"], HMAC_SHA1
    algorithm = get_signature_algorithm(settings).upper()
    named = dict(part.strip().partition("=")[::2] for part in settings.split(","))
    secret = config["TWILIO_WEBHOOK_SHARED_KEYS"].get(named.get("key", ""))
    if secret is None or algorithm not in HASHES:
        log.warning("refused %s: signed with %s, which is not configured", req.path, settings[:200])
        return None
    return secret, algorithm


def signature_is_valid(req: Request) -> bool:
    """Whether X-Twilio-Signature matches this request for the configured secrets."""
    config = current_app.config
    given = req.headers.get("X-Twilio-Signature", "").encode("utf-8", "replace")
    chosen = signing_secret(req, config) if given else None
    if chosen is None or not chosen[0]:
        return False
    secret, algorithm = chosen
    url = public_url(req)
    if hmac.compare_digest(signature(secret, url, req.form, algorithm), given):
        return True
    # The fragment never reaches us; should Twilio sign the URL with the overrides it was
    # given, that URL is accepted too (only with the overrides we configured).
    overridden = with_overrides(url, config)
    if overridden != url and hmac.compare_digest(
        signature(secret, overridden, req.form, algorithm), given
    ):
        return True
    # The validator also tries the URL with its port added or removed, as Twilio may sign either.
    return RequestValidator(secret).validate(
        url, req.form, given.decode("utf-8", "replace"), algorithm
    )


def twilio_webhook(view: F) -> F:
    """Refuse a webhook that Twilio did not sign (403) or whose body is not a form (415)."""

    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if request.mimetype != "application/x-www-form-urlencoded":
            abort(415, "Twilio webhooks are form-encoded POSTs")
        config = current_app.config
        if config["TWILIO_AUTH_TOKEN"] or config["TWILIO_WEBHOOK_SHARED_KEYS"]:
            if not signature_is_valid(request):
                log.warning("refused %s: bad X-Twilio-Signature", request.path)
                abort(403, "X-Twilio-Signature is missing or does not match")
        elif config["HOTLINE_ENV"] != "development":
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
