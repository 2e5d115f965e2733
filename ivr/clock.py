"""Time: now in UTC, ISO 8601 stamps, the call centre's time zone and its days."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from importlib.resources import files
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo, available_timezones

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


# The continents and oceans of the IANA names people live by; the rest of the database is
# aliases and machinery (Factory, localtime, posix/…, right/…, Etc/GMT+8, US/…, PRC).
REGIONS = ("Asia", "Europe", "America", "Australia", "Pacific", "Africa", "Indian", "Atlantic",
           "Antarctica", "Arctic")  # fmt: skip


def _zone_table() -> set[str]:
    """The zones of tzdata's zone.tab (one per country and region, no old aliases such as
    Asia/Calcutta), from the system's zoneinfo or the tzdata package; empty if neither has it."""
    for folder in TZPATH:
        table = Path(folder) / "zone.tab"
        if table.is_file():
            return _zones_in(table.read_text(encoding="utf-8"))
    try:
        return _zones_in((files("tzdata") / "zoneinfo" / "zone.tab").read_text(encoding="utf-8"))
    except (ModuleNotFoundError, OSError):
        return set()


def _zones_in(table: str) -> set[str]:
    return {line.split("\t")[2].strip() for line in table.splitlines()
            if line and not line.startswith("#") and line.count("\t") >= 2}  # fmt: skip


@functools.cache
def time_zones() -> list[str]:
    """The IANA time zones an agent can choose: places in a region, and UTC (China time at
    least, if the system has none)."""
    places = {z for z in available_timezones() if z.partition("/")[0] in REGIONS}
    listed = _zone_table() & places
    return sorted((listed or places) | {DEFAULT_TIMEZONE, "UTC"})


def iso(value: datetime | None) -> str | None:
    """A UTC timestamp in ISO 8601 with a Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None
