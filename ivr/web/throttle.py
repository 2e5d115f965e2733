"""Sign-in throttling: a few tries per account and per client address, then a growing wait.

The counts live in the database, so every web process on every machine sees the same ones.
An attempt is counted before its password is checked, with a compare-and-set: guesses sent at
once from many processes each take their own number, and only the first few are checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.orm import Session

from ivr.callflow.call_log import insert_new
from ivr.models import SignInThrottle

ACCOUNT_TRIES = 5
# An office behind one address signs many agents in; a guesser spraying names is still slowed.
ADDRESS_TRIES = 20
FIRST_WAIT = timedelta(minutes=1)
LONGEST_WAIT = timedelta(hours=1)
# Failures this old are forgotten: a typo last week does not shorten today's allowance.
FORGET_AFTER = timedelta(days=1)
KEY_LENGTH = 200


@dataclass(frozen=True)
class Limit:
    """One thing sign-ins are counted by, and how many tries it gets before waiting."""

    key: str
    tries: int


def limits(name: str, address: str | None) -> list[Limit]:
    """The account name (known or not: both are counted alike) and the client's address."""
    return [
        Limit(f"name:{name.strip().casefold()}"[:KEY_LENGTH], ACCOUNT_TRIES),
        Limit(f"addr:{address or 'unknown'}"[:KEY_LENGTH], ADDRESS_TRIES),
    ]


def wait_after(attempt: int, tries: int) -> timedelta | None:
    """The wait set by attempt number ``attempt``: none before the last free try, then doubling."""
    if attempt < tries:
        return None
    return min(FIRST_WAIT * 2 ** min(attempt - tries, 20), LONGEST_WAIT)


def count_attempt(session: Session, limits: list[Limit], now: datetime) -> datetime | None:
    """Count one sign-in attempt against every limit; the time to wait until, if one is blocked.

    A blocked limit refuses the attempt without counting it. The caller commits.
    """
    # The address first: a client spraying names once blocked adds no row for each new name.
    for limit in sorted(limits, key=lambda limit: not limit.key.startswith("addr:")):
        session.execute(insert_new(session, SignInThrottle, ["key"]),
                        {"key": limit.key, "failures": 0, "last_at": now})  # fmt: skip
        if until := _blocked_until(session, limit.key, now):
            return until
    for limit in limits:
        until = _take_a_try(session, limit, now)
        if until is not None:
            return until
    return None


def _blocked_until(session: Session, key: str, now: datetime) -> datetime | None:
    until = session.scalar(select(SignInThrottle.blocked_until).where(SignInThrottle.key == key))
    return until if until is not None and until > now else None


def _take_a_try(session: Session, limit: Limit, now: datetime) -> datetime | None:
    """Raise the limit's count by one unless it is blocked (then: until when)."""
    for _ in range(20):  # each lost race means another attempt took a number first
        row = session.execute(
            select(SignInThrottle.failures, SignInThrottle.last_at, SignInThrottle.blocked_until)
            .where(SignInThrottle.key == limit.key)
        ).one()  # fmt: skip
        if row.blocked_until is not None and row.blocked_until > now:
            return row.blocked_until
        attempt = 1 if now - row.last_at > FORGET_AFTER else row.failures + 1
        wait = wait_after(attempt, limit.tries)
        taken = session.execute(
            update(SignInThrottle)
            .where(
                SignInThrottle.key == limit.key,
                SignInThrottle.failures == row.failures,
                or_(SignInThrottle.blocked_until.is_(None), SignInThrottle.blocked_until <= now),
            )
            .values(failures=attempt, last_at=now, blocked_until=now + wait if wait else None)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return None
    return now + FIRST_WAIT


def forget_failures(session: Session, limits: list[Limit], now: datetime) -> None:
    """A right password: the account starts afresh, and its own typos leave the address's count.

    Only those: someone with an account of their own must not wipe out the tries they spent
    guessing other names from the same address by signing in. The caller commits.
    """
    name, address = (next(limit for limit in limits if limit.key.startswith(kind))
                     for kind in ("name:", "addr:"))  # fmt: skip
    own = session.scalar(select(SignInThrottle.failures).where(SignInThrottle.key == name.key))
    session.execute(
        update(SignInThrottle)
        .where(SignInThrottle.key == name.key)
        .values(failures=0, blocked_until=None)
        .execution_options(synchronize_session=False)
    )
    if own:
        left = SignInThrottle.failures - own
        session.execute(
            update(SignInThrottle)
            .where(SignInThrottle.key == address.key, SignInThrottle.failures >= own)
            # A wait this sign-in's own tries set (the right password was one of them) goes too.
            .values(
                failures=left,
                blocked_until=case(
                    (left < address.tries, None), else_=SignInThrottle.blocked_until
                ),
            )
            .execution_options(synchronize_session=False)
        )
    # Rows of names and addresses not seen for a day are forgotten anyway: drop them.
    session.execute(
        delete(SignInThrottle)
        .where(SignInThrottle.last_at < now - FORGET_AFTER)
        .where(or_(SignInThrottle.blocked_until.is_(None), SignInThrottle.blocked_until < now))
        .execution_options(synchronize_session=False)
    )
