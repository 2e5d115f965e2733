"""The audit log: sign-ins, token and agent changes, case changes, recordings listened to.

``audit`` adds a line to the caller's transaction, so it is kept exactly when what it records
is. Lines are only ever added: nothing in the app changes or removes one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import g, has_request_context, request
from flask_login import current_user
from sqlalchemy import event, select

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import AuditEvent

SIGN_IN = "sign_in"
SIGN_IN_FAILED = "sign_in_failed"
TOKEN_CREATE = "token_create"
TOKEN_REVOKE = "token_revoke"
AGENT_CREATE = "agent_create"
AGENT_DISABLE = "agent_disable"
AGENT_ENABLE = "agent_enable"
AGENT_UPDATE = "agent_update"
PASSWORD_RESET = "password_reset"
PASSWORD_CHANGE = "password_change"
SIGN_IN_THROTTLED = "sign_in_throttled"
CASE_STATUS = "case_status"
CASE_REASSIGN = "case_reassign"  # a supervisor gave a message's case to another agent
RECORDING_LISTEN = "recording_listen"
RECORDING_DOWNLOAD = "recording_download"
SUPERVISOR_JOIN = "supervisor_join"
SUPERVISOR_MODE = "supervisor_mode"
CALLER_MOVE = "caller_move"
PRESENCE_SET = "presence_set"
CALLER_ERASE = "caller_erase"  # the target is the masked number, never the number
RECORDING_PAUSED = "recording_paused"  # an agent paused a conversation's recording
RECORDING_RESUMED = "recording_resumed"
ACTIONS = (SIGN_IN, SIGN_IN_FAILED, SIGN_IN_THROTTLED, TOKEN_CREATE, TOKEN_REVOKE, AGENT_CREATE,
           AGENT_DISABLE, AGENT_ENABLE, AGENT_UPDATE, PASSWORD_RESET, PASSWORD_CHANGE, CASE_STATUS,
           RECORDING_LISTEN, RECORDING_DOWNLOAD, SUPERVISOR_JOIN, SUPERVISOR_MODE, CALLER_MOVE,
           PRESENCE_SET, CALLER_ERASE, RECORDING_PAUSED, RECORDING_RESUMED, CASE_REASSIGN)  # fmt: skip
# A player fetches one recording in many Range requests; one line per person and message here.
LISTEN_WINDOW = timedelta(minutes=10)
THROTTLED_WINDOW = timedelta(minutes=1)


def audit(
    action: str, *, actor: str = "", target: str = "", detail: Mapping[str, Any] | None = None
) -> None:
    """Add an audit line to the current ``db.session`` (it commits with the caller's work).

    In a request, ``address`` is the client's and an empty ``actor`` becomes whoever made the
    request (the signed-in agent or the API token).
    """
    address = ""
    if has_request_context():
        address = request.remote_addr or ""
        actor = actor or request_actor()
    db.session.add(
        AuditEvent(
            at=utcnow(),
            action=action[:64],
            actor=actor[:160],
            target=target[:255],
            address=address[:64],
            detail=json.loads(json.dumps(dict(detail or {}), default=str)),
        )
    )


def request_actor() -> str:
    """Who makes this request: ``token:NAME#ID`` or ``agent:NAME``; empty if nobody is known."""
    token = g.get("api_token")
    if token is not None:
        return f"token:{token.name}#{token.id}"
    if current_user and current_user.is_authenticated:
        return f"agent:{current_user.name}"
    return ""


def audit_throttled(actor: str) -> None:
    """A sign-in refused for too many tries, once a minute per client address.

    A refusal costs the guesser no password check: one line per refusal would let anyone
    fill the log, which the app can never prune.
    """
    address = (request.remote_addr or "")[:64]
    seen = db.session.scalar(
        select(AuditEvent.id)
        .where(
            AuditEvent.action == SIGN_IN_THROTTLED,
            AuditEvent.address == address,
            AuditEvent.at > utcnow() - THROTTLED_WINDOW,
        )
        .limit(1)
    )
    if seen is None:
        audit(SIGN_IN_THROTTLED, actor=actor)


def audit_recording(action: str, message_id: int, kind: str = "voicemail") -> None:
    """A listen or download of a message's recording, once per person and place in
    ``LISTEN_WINDOW``.

    Players seek with Range requests, each a new request for the same audio: the first one
    makes the line, the rest within the window (by the same person) add nothing.
    """
    actor, target = request_actor(), f"{kind}:{message_id}"
    seen = db.session.scalar(
        select(AuditEvent.id)
        .where(
            AuditEvent.action == action,
            AuditEvent.actor == actor[:160],
            AuditEvent.target == target,
            # The same credentials from another place are another line: a stolen cookie shows.
            AuditEvent.address
            == ((request.remote_addr or "")[:64] if has_request_context() else ""),
            AuditEvent.at > utcnow() - LISTEN_WINDOW,
        )
        .limit(1)
    )
    if seen is None:
        audit(action, actor=actor, target=target)
        db.session.commit()


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _append_only(*_: Any) -> None:
    raise RuntimeError("audit lines are never changed nor removed")
