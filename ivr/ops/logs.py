"""Structured logs: one JSON object per line, carrying the CallSid of the call being handled.

A webhook's CallSid is bound for the whole request, and the worker binds the CallSid of the
message it transcribes, so ``grep CA…`` finds every line a call produced, on any machine.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from contextvars import ContextVar
from typing import Any

from flask import Flask, g, has_request_context, request

CALL_SID: ContextVar[str] = ContextVar("call_sid", default="")
FORMATS = ("json", "text")


def bind_call(sid: str) -> None:
    """Attach ``sid`` to every log line this thread writes until it is bound again."""
    CALL_SID.set(sid[:64])


def request_id() -> str:
    """This request's id in the logs: Twilio's idempotency token, else one made when first logged."""
    if "request_id" not in g:
        g.request_id = (
            request.headers.get("I-Twilio-Idempotency-Token", "")[:64] or uuid.uuid4().hex
        )
    return str(g.request_id)


class CallContext(logging.Filter):
    """Adds ``call_sid`` (and, inside a request, ``request_id`` and ``path``) to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.call_sid = CALL_SID.get()
        if has_request_context():
            record.request_id = request_id()
            record.path = request.path
        return True


class JsonLines(logging.Formatter):
    """A log record as one JSON object (what log shippers and ``jq`` read)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("call_sid", "request_id", "path"):
            value = getattr(record, name, "")
            if value:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def init_logging(app: Flask) -> None:
    """Log JSON lines (or text, HOTLINE_LOG_FORMAT=text) with the call's CallSid on each."""
    handler = Stderr()
    handler.addFilter(CallContext())
    if app.config["HOTLINE_LOG_FORMAT"] == "text":
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(call_sid)s] %(message)s")
        )
    else:
        handler.setFormatter(JsonLines())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "hotline", False)]:
        root.removeHandler(old)
    handler.hotline = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    @app.before_request
    def bind_request() -> None:
        # Only webhooks carry a CallSid; reading the form of other requests is not ours to do.
        sid = request.form.get("CallSid", "") if request.path.startswith("/voice/") else ""
        bind_call(sid)

    @app.teardown_request
    def unbind_request(exc: BaseException | None) -> None:
        bind_call("")
