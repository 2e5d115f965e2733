"""Queue stays by hour of the reader's day: waits and the share answered within the target."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, case, cast, extract, func, literal_column, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from ivr.day_counts import Counting, Tally, tallied
from ivr.models import QueueEntry


def steps_since_epoch(
    column: InstrumentedAttribute[datetime], dialect: str, step: int
) -> ColumnElement[int]:
    """SQL: the ``step``-second slice of the UTC timeline ``column`` falls in, counted from 1970.

    A number, so that a kept day's counts are plain JSON.
    """
    if dialect == "sqlite":
        # Whole seconds as text, then integer division.
        return cast(cast(func.strftime("%s", column), Integer) // step, Integer)
    return cast(func.floor(extract("epoch", column) / step), Integer)


def stays_by(step: int) -> Counting:
    """A tally query: queue stays entered in a period by slice, answered or not, and wait."""

    def count(session: Session, since: datetime, until: datetime) -> Iterable[Sequence[Any]]:
        at = steps_since_epoch(QueueEntry.entered_at, session.get_bind().dialect.name, step)
        answered = case((QueueEntry.bridged_at.is_not(None), 1), else_=0)
        # A literal 0: PostgreSQL groups by the expression only if it is written the same both times.
        wait = func.coalesce(QueueEntry.wait_seconds, literal_column("0"))
        return session.execute(
            select(at, answered, wait, func.count())
            .where(QueueEntry.entered_at >= since, QueueEntry.entered_at <= until)
            .group_by(at, answered, wait)
        )

    return count


HOUR, QUARTER = 3600, 900
STAYS = {HOUR: Tally("stays-by-hour-1", 3, stays_by(HOUR)),
         QUARTER: Tally("stays-by-quarter-hour-1", 3, stays_by(QUARTER))}  # fmt: skip


@dataclass
class Hour:
    """One hour of the day over a period: callers who queued, and how long they waited."""

    offered: int = 0
    answered: int = 0
    within: int = 0
    waited: int = 0  # seconds, summed over the answered callers
    longest: int = 0  # seconds, of anyone who queued, answered or not

    @property
    def average_wait(self) -> float | None:
        """The answered callers' average wait in seconds."""
        return round(self.waited / self.answered, 1) if self.answered else None

    @property
    def service_level(self) -> float | None:
        """The share of callers answered within the target."""
        return self.within / self.offered if self.offered else None


def stays_per_hour(
    session: Session, since: datetime, until: datetime, step: int, hour_of: Callable[[int], int],
    target: float,
) -> list[Hour]:  # fmt: skip
    """Each hour of the day (by ``hour_of`` a slice): queue stays, waits, answers in target."""
    hours = [Hour() for _ in range(24)]
    for at, answered, wait, n in tallied(session, STAYS[step], since, until):
        hour = hours[hour_of(at)]
        hour.offered += n
        hour.longest = max(hour.longest, wait)
        if answered:
            hour.answered += n
            hour.waited += wait * n
            hour.within += n if wait <= target else 0
    return hours
