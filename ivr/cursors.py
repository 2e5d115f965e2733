"""Opaque cursors for keyset paging: the sort key of a row, as text a URL can carry, and the
rows past it.

One encoding for the API and the pages: the key's parts (times, whole numbers, words) joined by
``|`` and made URL-safe with base64. A cursor is a bookmark, not a secret.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from ivr.database import MAX_ID
from ivr.text import whole_number

Part = datetime | int | str


class CursorError(ValueError):
    """Text that is not a cursor we made."""


def encode_key(parts: tuple[Part, ...]) -> str:
    """The cursor for a row whose sort key is ``parts`` (times in UTC)."""
    shown = [p.astimezone(UTC).isoformat() if isinstance(p, datetime) else str(p) for p in parts]
    return base64.urlsafe_b64encode("|".join(shown).encode()).decode().rstrip("=")


def decode_key(cursor: str, kinds: tuple[type, ...]) -> tuple[Part, ...]:
    """Undo ``encode_key`` for a key of these kinds (datetime, int, str); CursorError if the
    text is not such a cursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise CursorError("not a cursor") from None
    texts = raw.split("|")
    if len(texts) != len(kinds):
        raise CursorError("not a cursor")
    return tuple(_part(text, kind) for text, kind in zip(texts, kinds, strict=True))


def _part(text: str, kind: type) -> Part:
    if kind is datetime:
        try:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                raise CursorError("a time without its zone")
            # In UTC here, as the database compares: some times at the calendar's ends have none.
            return moment.astimezone(UTC)
        except (ValueError, OverflowError):
            raise CursorError("not a time") from None
    if kind is int:
        number = whole_number(text)
        if number is None or number > MAX_ID:
            raise CursorError("not a whole number")
        return number
    return text


def beyond(keys: Sequence[tuple[Any, bool]], values: Sequence[Part], forward: bool) -> Any:
    """SQL: the rows past ``values`` in the order ``keys`` (ahead of them if not ``forward``)."""
    either: list[ColumnElement[bool]] = []
    for index, (column, descending) in enumerate(keys):
        value = values[index]
        step = column < value if descending == forward else column > value
        same = [c == v for (c, _), v in zip(keys[:index], values[:index], strict=True)]
        either.append(and_(*same, step))
    # The same bound on the first column alone lets the database start its index scan at the
    # cursor rather than filter its way there from the top.
    first, descending = keys[0]
    bound = first <= values[0] if descending == forward else first >= values[0]
    return and_(bound, or_(*either))
