"""Counts of closed days, kept so that a month's figures need not count a month of rows again.

A tally is a query that counts the rows of a period by key: calls by hour and outcome, queue stays
by queue and wait, messages answered in time. The whole days of a period that closed over an
hour ago are counted once each and kept in ``day_tallies``; the rest of the period is counted as it
stands, and the parts are added up: the same rows as counting the period at once.

A closed day still changes: a rating or an answer comes late, a call ends after midnight, a row
is deleted. Triggers (migration e4b7c1d9a2f6) raise the day's version in ``figure_days`` in the
same transaction as any such change, and a kept count of another version is counted again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import JSON, String, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from ivr.clock import utcnow
from ivr.database import db

ONE_DAY = timedelta(days=1)
MICROSECOND = timedelta(microseconds=1)
# The triggers judge a day closed by the database's clock when a statement runs. An hour after
# midnight, no write to the day can still be unseen by them: clocks differ by far less, and no
# transaction stays open that long.
SETTLED = timedelta(hours=1)
# At most the last 92 days of a period are tallied (the figures page's longest period); the API
# takes any period, and what comes before is counted with the rest.
MOST_DAYS = 92


class FigureDay(db.Model):
    """A closed day whose calls, queue stays or messages changed: the triggers count versions."""

    __tablename__ = "figure_days"

    day: Mapped[date] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(default=0)


class DayTally(db.Model):
    """One tally's rows for one closed day, counted at ``version`` of the day."""

    __tablename__ = "day_tallies"

    day: Mapped[date] = mapped_column(primary_key=True)
    tally: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column()
    counts: Mapped[list[list[Any]]] = mapped_column(JSON)


Counting = Callable[[Session, datetime, datetime], Iterable[Sequence[Any]]]


@dataclass(frozen=True)
class Tally:
    """A query counting rows between two times (both included), by its first ``keys`` columns.

    The other columns are counts or sums. Days are kept under ``name``: a new name for a new way
    of counting, or for anything else the rows depend on (such as the reply promise).
    """

    name: str
    keys: int
    count: Counting


def midnight(day: date) -> datetime:
    """The start of a UTC day."""
    return datetime.combine(day, time.min, UTC)


def settled_days(since: datetime, until: datetime, now: datetime) -> tuple[date, date] | None:
    """The first and last whole day between ``since`` and ``until`` that may be tallied."""
    start, end = since.astimezone(UTC), until.astimezone(UTC)
    # Day numbers, so that periods at the ends of the calendar cannot overflow.
    last = min(end.toordinal() - (end.time() != time.max), (now - SETTLED).toordinal() - 1)
    first = max(start.toordinal() + (start.time() != time.min), last - MOST_DAYS + 1)
    return (date.fromordinal(first), date.fromordinal(last)) if first <= last else None


def tallied(
    session: Session, tally: Tally, since: datetime, until: datetime
) -> list[tuple[Any, ...]]:
    """``tally``'s rows for ``since`` to ``until``: as its query counts them, from kept days."""
    days = settled_days(since, until, utcnow())
    if days is None:
        return [tuple(row) for row in tally.count(session, since, until)]
    first, last = days
    rows = kept_days(session, tally, first, last)
    if since < midnight(first):
        rows += tally.count(session, since, midnight(first) - MICROSECOND)
    if midnight(last + ONE_DAY) <= until:
        rows += tally.count(session, midnight(last + ONE_DAY), until)
    return added_up(rows, tally.keys)


def kept_days(session: Session, tally: Tally, first: date, last: date) -> list[Sequence[Any]]:
    """The rows of whole days ``first`` to ``last``: kept ones read, the others counted."""
    current = DayTally.version == func.coalesce(FigureDay.version, 0)
    kept = dict(
        session.execute(
            select(DayTally.day, DayTally.counts)
            .outerjoin(FigureDay, FigureDay.day == DayTally.day)
            .where(DayTally.tally == tally.name, DayTally.day.between(first, last), current)
        ).all()
    )
    rows = [row for counts in kept.values() for row in counts]
    days = (date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1))
    if missing := [day for day in days if day not in kept]:
        rows += count_and_keep(session, tally, missing)
    return rows


def count_and_keep(session: Session, tally: Tally, days: list[date]) -> list[Sequence[Any]]:
    """Count whole days and keep them, each under the version it had before it was counted."""
    # Read first: a change committed while the days are counted raises a version past the one
    # kept, and the day is counted again next time.
    versions = dict(
        session.execute(
            select(FigureDay.day, FigureDay.version).where(FigureDay.day.in_(days))
        ).all()
    )
    rows: list[Sequence[Any]] = []
    fresh = []
    for day in days:
        counted = [
            list(row)
            for row in tally.count(session, midnight(day), midnight(day + ONE_DAY) - MICROSECOND)
        ]
        rows += counted
        fresh.append(
            {"day": day, "tally": tally.name, "version": versions.get(day, 0), "counts": counted}
        )
    session.execute(keep(session.get_bind().dialect.name), fresh)
    # Committed on a read, as a token's last use is: the next request finds the days counted.
    session.commit()
    return rows


def keep(dialect: str) -> Any:
    """INSERT a day's tally, or replace the one kept, on PostgreSQL and SQLite alike."""
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(DayTally)
    return insert.on_conflict_do_update(
        index_elements=["day", "tally"],
        set_={"version": insert.excluded.version, "counts": insert.excluded.counts},
    )


def added_up(rows: Iterable[Sequence[Any]], keys: int) -> list[tuple[Any, ...]]:
    """Rows with the same key made one, their counts added."""
    totals: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        key = tuple(row[:keys])
        if (counts := totals.get(key)) is None:
            totals[key] = list(row[keys:])
        elif len(counts) == 1:  # as in most tallies: half the time for a month of stays
            counts[0] += row[keys]
        else:
            for i, n in enumerate(row[keys:]):
                counts[i] += n
    return [(*key, *counts) for key, counts in totals.items()]
