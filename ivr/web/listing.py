"""Lists on pages: keyset paging by opaque cursors that keep the filters and the sort, and a
total that stays cheap on a long history.

A page is asked for with ``after=<cursor>`` (the rows past the last one seen) or
``before=<cursor>`` (the rows ahead of the first one seen); every other argument of the address
(filters, ``sort``) is carried into the links as it is. Keyset paging, unlike OFFSET, neither
slows down deep in the history nor shows a row twice or skips one when new rows arrive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, Select, func, select
from sqlalchemy.orm import Session

from ivr.cursors import CursorError, Part, beyond, decode_key, encode_key

# Counting stops here: a total beyond it reads "more than 10,000", and costs no more to find.
COUNT_CAP = 10_000
# A search by words or part of a number counts less far: its matches come from no single index,
# and counting them costs about as much as the page itself per row.
SEARCH_COUNT_CAP = 200
CURSOR_ARGS = ("after", "before")


@dataclass(frozen=True)
class Order:
    """One way a list sorts: columns, each descending or not; the last one is unique (an id)."""

    name: str
    keys: tuple[tuple[Any, bool], ...]
    kinds: tuple[type, ...] = field(default=())

    def key_of(self, row: Any) -> tuple[Part, ...]:
        """The sort key of ``row`` (a mapped object)."""
        return tuple(getattr(row, column.key) for column, _ in self.keys)


def order(name: str, *keys: tuple[Any, bool]) -> Order:
    """An Order whose key parts are read back as times or whole numbers, by column type."""
    kinds = tuple(_kind(column) for column, _ in keys)
    return Order(name, keys, kinds)


def _kind(column: Any) -> type:
    kind = getattr(column.type, "impl_instance", column.type)  # through a TypeDecorator
    return datetime if isinstance(kind, DateTime) else int if isinstance(kind, Integer) else str


@dataclass(frozen=True)
class Page:
    """One page of a list: its rows, the list's total, and the arguments of its neighbours."""

    rows: list[Any]
    total: int
    more_than: bool  # the total is the count's cap, and there are more
    sort: str
    newer: dict[str, str] | None
    older: dict[str, str] | None


def keyset_page(
    session: Session,
    query: Select[Any],
    orders: Sequence[Order],
    args: Mapping[str, str],
    *,
    size: int,
    default: str | None = None,
    count_cap: int = COUNT_CAP,
) -> Page:
    """The page of ``query`` that ``args`` (the address's arguments) ask for.

    ``args["sort"]`` picks one of ``orders`` by name (``default``, else the first, otherwise); a
    cursor made for another sort, or not made here, starts from the top.
    """
    by_name = {o.name: o for o in orders}
    chosen = by_name.get(args.get("sort", "")) or by_name.get(default or "") or orders[0]
    kept = {k: v for k, v in args.items() if k not in CURSOR_ARGS and v != ""}
    forward, values = True, None
    for name in CURSOR_ARGS:
        if (cursor := args.get(name)) and (values := _values(cursor, chosen)) is not None:
            forward = name == "after"
            break
    keys = chosen.keys if forward else tuple((c, not d) for c, d in chosen.keys)
    paged = query if values is None else query.where(beyond(chosen.keys, values, forward))
    sorting = [column.desc() if descending else column.asc() for column, descending in keys]
    rows = list(session.scalars(paged.order_by(*sorting).limit(size + 1)))
    more = len(rows) > size
    if not forward and not more:
        # Back at the top: the first page, whole, rather than the few rows left above.
        return keyset_page(session, query, orders, kept, size=size, default=default,
                           count_cap=count_cap)  # fmt: skip
    rows = rows[:size] if forward else rows[:size][::-1]
    if values is None and not more:
        total, more_than = len(rows), False  # the whole list is on this page: nothing to count
    else:
        total, more_than = count(session, query, chosen.keys[-1][0], count_cap)
    newer = older = None
    if rows and values is not None:
        newer = {**kept, "before": _cursor(chosen, rows[0])}
    if rows and (more or not forward):
        older = {**kept, "after": _cursor(chosen, rows[-1])}
    return Page(rows, total, more_than, chosen.name, newer, older)


def count(session: Session, query: Select[Any], ident: Any, cap: int) -> tuple[int, bool]:
    """How many rows ``query`` holds, counting no further than ``cap``; and whether there are
    more than that."""
    capped = query.with_only_columns(ident).order_by(None).limit(cap + 1).subquery()
    total = session.scalar(select(func.count()).select_from(capped)) or 0
    return min(total, cap), total > cap


def _cursor(chosen: Order, row: Any) -> str:
    return encode_key((chosen.name, *chosen.key_of(row)))


def _values(cursor: str, chosen: Order) -> tuple[Part, ...] | None:
    try:
        name, *values = decode_key(cursor, (str, *chosen.kinds))
    except CursorError:
        return None
    return tuple(values) if name == chosen.name else None
