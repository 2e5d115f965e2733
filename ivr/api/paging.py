"""Lists in the API: newest first, opaque cursors, limits and filters from the query string."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any, cast

from flask import request
from sqlalchemy import Select

from ivr.api.errors import ApiError
from ivr.cursors import CursorError, beyond, decode_key, encode_key
from ivr.database import db
from ivr.text import whole_number

DEFAULT_LIMIT = 50


MAX_LIMIT = 200


def parse_when(name: str, *, end_of_day: bool = False) -> datetime | None:
    """A date or datetime filter from the query string (dates are whole UTC days)."""
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = datetime.combine(day, time.max if end_of_day else time.min, UTC)
        else:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        # In UTC here: 0001-01-01T00:00+14:00 has no UTC time, and must not fail further on.
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ApiError(400, f"{name} must be a date (2026-11-24) or an ISO 8601 time") from None


def json_text(name: str) -> str | None:
    """The text field ``name`` of the request's JSON object; None if there is no such text.

    A body nested deeper than the parser goes (``[[[[…]]]]``) gets a 400, not a RecursionError.
    """
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        raise ApiError(400, "the JSON body is nested too deeply") from None
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def encode_cursor(at: datetime, ident: int) -> str:
    """An opaque cursor pointing after the row (at, ident) in newest-first order."""
    return encode_key((at, ident))


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Undo ``encode_cursor``; a 400 for anything we did not make."""
    try:
        moment, number = decode_key(cursor, (datetime, int))
    except CursorError:
        raise ApiError(400, "cursor is not one this API returned") from None
    return cast(datetime, moment), cast(int, number)


def newest_first_page(query: Select[Any], at: Any, ident: Any) -> tuple[list[Any], str | None]:
    """One page of ``query``, newest first by (at, ident), from the request's cursor and limit."""
    limit = limit_arg()
    if cursor := request.args.get("cursor"):
        query = query.where(beyond(((at, True), (ident, True)), decode_cursor(cursor), True))
    rows = list(db.session.scalars(query.order_by(at.desc(), ident.desc()).limit(limit + 1)))
    page = rows[:limit]
    more = len(rows) > limit
    return page, encode_cursor(*_key(page[-1], at, ident)) if more else None


def _key(row: Any, at: Any, ident: Any) -> tuple[datetime, int]:
    return getattr(row, at.key), getattr(row, ident.key)


def limit_arg() -> int:
    """The page size asked for, within bounds."""
    limit = whole_number(request.args.get("limit", str(DEFAULT_LIMIT)))
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return limit


def filter_dates(query: Select[Any], column: Any) -> Select[Any]:
    """Apply ``since`` and ``until`` to a timestamp column."""
    since, until = parse_when("since"), parse_when("until", end_of_day=True)
    if since:
        query = query.where(column >= since)
    if until:
        query = query.where(column <= until)
    return query


def filter_exact(query: Select[Any], columns: dict[str, Any]) -> Select[Any]:
    """``?name=value`` filters, each an exact match on its column."""
    for name, column in columns.items():
        if value := request.args.get(name):
            query = query.where(column == value[:255])
    return query


def filter_choice(
    query: Select[Any], name: str, column: Any, choices: type[StrEnum]
) -> Select[Any]:
    """A ``?name=value`` filter whose value must be one of an enum's; 400 otherwise."""
    value = request.args.get(name)
    if not value:
        return query
    if value not in {choice.value for choice in choices}:
        raise ApiError(400, f"{name} must be one of " + ", ".join(c.value for c in choices))
    return query.where(column == value)
