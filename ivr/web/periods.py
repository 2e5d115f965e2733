"""The days a supervisor chose for figures and exports (``from``/``to``), in their time zone."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from flask import request
from flask_babel import gettext

from ivr.clock import local_day, utcnow
from ivr.web.i18n import reader_zone

MAX_DAYS = 92


class Period(NamedTuple):
    """The days a supervisor chose, in their time zone, and the UTC times they run between."""

    first: date
    last: date
    zone: ZoneInfo
    since: datetime
    until: datetime
    problem: str | None


def period() -> Period:
    """The chosen days (``from``/``to`` as YYYY-MM-DD) in the reader's time zone; today by default.

    A day runs from midnight to midnight where the reader is (``local_day``).
    """
    zone = reader_zone()
    first, last, problem = chosen_days(utcnow().astimezone(zone).date())
    since, until = local_day(first, zone)[0], local_day(last, zone)[1]
    return Period(first, last, zone, since, until - timedelta(microseconds=1), problem)


def chosen_days(today: date) -> tuple[date, date, str | None]:
    """The first and last day asked for, or today with the reason they could not be shown."""
    try:
        first = date.fromisoformat(request.args.get("from") or today.isoformat())
        last = date.fromisoformat(request.args.get("to") or first.isoformat())
    except ValueError:
        return today, today, gettext("Dates must look like 2026-11-24; showing today.")
    if not date.min < first <= last < date.max or (last - first).days > MAX_DAYS:
        problem = gettext(
            "Choose up to %(n)s days, the first not after the last; showing today.", n=MAX_DAYS
        )
        return today, today, problem
    return first, last, None
