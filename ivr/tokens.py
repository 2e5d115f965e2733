"""API bearer tokens: created once, shown once, stored as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.extensions import utcnow
from ivr.models import ApiToken

PREFIX = "hl_"


def digest(token: str) -> str:
    """The stored form of a token (the token itself is random enough for a plain hash)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, name: str) -> str:
    """Make a token for ``name``; the return value is the only time it is seen."""
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=digest(token)))
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
