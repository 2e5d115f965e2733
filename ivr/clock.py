"""Time: now in UTC, ISO 8601 stamps, the call centre's time zone and its days."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

from flask import current_app


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


DEFAULT_TIMEZONE = "Asia/Shanghai"


def site_timezone() -> str:
    """The call centre's time zone (HOTLINE_TIMEZONE, China time by default)."""
    return str(current_app.config.get("HOTLINE_TIMEZONE") or DEFAULT_TIMEZONE)


def local_day(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """When ``day`` starts in ``zone`` and when the next one does, in UTC.

    In China the 25th runs from 16:00 UTC on the 24th; a day the clocks change on lasts 23 or
    25 hours. ValueError for the calendar's first and last day, whose UTC ends do not exist.
    """
    if not date.min < day < date.max:
        raise ValueError(f"{day} is at the end of the calendar")
    start = datetime.combine(day, time.min, zone)
    return start.astimezone(UTC), datetime.combine(
        day + timedelta(days=1), time.min, zone
    ).astimezone(UTC)


@functools.cache
def time_zones() -> list[str]:
    """The IANA time zones an agent can choose (China time at least, if the system has none)."""
    return sorted(available_timezones() | {DEFAULT_TIMEZONE, "UTC"})


def iso(value: datetime | None) -> str | None:
    """A UTC timestamp in ISO 8601 with a Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None
