"""The URLs Twilio sees: the public one of a request, ours for callbacks, with overrides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Request, current_app, url_for


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


def external_url(endpoint: str, **values: object) -> str:
    """A URL for Twilio: absolute on PUBLIC_BASE_URL when configured, else a relative path."""
    path = url_for(endpoint, **values)
    return current_app.config["PUBLIC_BASE_URL"] + path
