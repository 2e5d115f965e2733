"""API bearer tokens: created once, shown once, stored as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.clock import utcnow
from ivr.models import ApiToken, Scope

PREFIX = "hl_"


def digest(token: str) -> str:
    """The stored form of a token (the token itself is random enough for a plain hash)."""
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scopes(raw: str) -> list[Scope]:
    """Scopes from ``read,write`` text, in their canonical order; ValueError names a bad one."""
    words = {word.strip() for word in raw.split(",") if word.strip()}
    unknown = words - {scope.value for scope in Scope}
    if unknown:
        raise ValueError(
            f"unknown scope {', '.join(sorted(unknown))}; choose from {', '.join(Scope)}"
        )
    if not words:
        raise ValueError(f"choose at least one scope of {', '.join(Scope)}")
    return [scope for scope in Scope if scope.value in words]


def create_token(session: Session, name: str, scopes: list[Scope] | None = None) -> str:
    """Make a token for ``name`` (``read`` only unless told); the return is the only sight of it."""
    token = PREFIX + secrets.token_urlsafe(32)
    chosen = scopes or [Scope.READ]
    session.add(ApiToken(name=name, token_hash=digest(token), scopes=",".join(chosen)))
    session.flush()
    return token


def check_token(session: Session, token: str) -> ApiToken | None:
    """The live token row for a presented token, or None."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(token)))
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    # Written at most once a minute: a busy client must not turn every read into a write.
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now
        session.commit()
    return row


def revoke_token(session: Session, name: str) -> int:
    """Revoke every live token with this name; return how many."""
    rows = session.scalars(
        select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
    ).all()
    for row in rows:
        row.revoked_at = utcnow()
    return len(rows)
