"""Order status lookups: the imported orders table, or the shop's own HTTP endpoint."""

from __future__ import annotations

import csv
import re
from collections.abc import Collection, Iterable
from pathlib import Path
from urllib.parse import quote

import requests
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.callflow.flow import Lookup, LookupFailed, StatusInfo
from ivr.database import db
from ivr.models import Order

STATUS = re.compile(r"[a-z][a-z0-9_]{0,31}")
ORDER_NUMBER = re.compile(r"[0-9]{3,32}")  # as callers key them: ASCII digits only


def spoken(value: object, limit: int) -> str:
    """Text from the shop fit to be read out: printable characters only, at most ``limit``.

    A NUL, a control character or half a surrogate pair cannot go into TwiML (nor into
    PostgreSQL's text).
    """
    text = re.sub(r"\s+", " ", str(value or ""))  # tabs, newlines, U+3000: one space
    return "".join(c for c in text if c.isprintable()).strip()[:limit]


class OrderImportError(ValueError):
    """A CSV row that cannot be imported; the message names the line."""


def find_order_in_table(session: Session) -> Lookup:
    """A lookup over the ``orders`` table."""

    def find(number: str) -> StatusInfo | None:
        order = session.scalar(select(Order).where(Order.number == number))
        if order is None:
            return None
        return StatusInfo(order.number, order.status, order.carrier, order.eta)

    return find


def find_order_over_http(url_template: str, *, timeout: float, token: str = "") -> Lookup:
    """A lookup that asks the shop's system: GET the URL with ``{number}`` filled in.

    200 with JSON ``{"status": …, "carrier": …, "eta": …}`` is a hit, 404 is "no such order";
    anything else, or no answer within ``timeout`` seconds, is a failure the caller is told about.
    """
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"

    def find(number: str) -> StatusInfo | None:
        url = url_template.replace("{number}", quote(number, safe=""))
        try:
            reply = requests.get(url, headers=headers, timeout=timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise LookupFailed(f"order service unreachable: {type(exc).__name__}") from exc
        if reply.status_code == 404:
            return None
        if reply.status_code != 200:
            raise LookupFailed(f"order service answered HTTP {reply.status_code}")
        try:
            body = reply.json()
            status = str(body["status"]).strip().lower()
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise LookupFailed("order service answered without a status") from exc
        if not STATUS.fullmatch(status):
            raise LookupFailed("order service answered with an unreadable status")
        return StatusInfo(
            number, status, spoken(body.get("carrier"), 64), spoken(body.get("eta"), 32)
        )

    return find


def import_orders(
    session: Session, rows: Iterable[dict[str, str]], statuses: Collection[str] = ()
) -> tuple[int, int]:
    """Insert or update orders from CSV rows; return (added, updated). All or nothing.

    ``statuses``, when given, are the ones the menu can read out; any other is refused.
    """
    added = updated = 0
    for line, row in enumerate(rows, start=2):
        number = (row.get("order_number") or row.get("number") or "").strip()
        status = (row.get("status") or "").strip().lower()
        if not ORDER_NUMBER.fullmatch(number):
            raise OrderImportError(f"line {line}: order number {number!r} must be 3 to 32 digits")
        if not STATUS.fullmatch(status):
            raise OrderImportError(f"line {line}: status {status!r} must be a word like shipped")
        if statuses and status not in statuses:
            raise OrderImportError(
                f"line {line}: status {status!r} is not one the menu can read out to callers "
                f"(its order_statuses: {', '.join(sorted(statuses))})"
            )
        order = session.scalar(select(Order).where(Order.number == number))
        if order is None:
            order = Order(number=number)
            session.add(order)
            added += 1
        else:
            updated += 1
        order.status = status
        order.carrier = spoken(row.get("carrier"), 64)
        order.eta = spoken(row.get("eta"), 32)
        session.flush()
    return added, updated


def read_orders_csv(path: Path) -> list[dict[str, str]]:
    """Read an orders CSV (header: order_number,status[,carrier,eta]), UTF-8 with or without BOM."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"order_number", "status"} <= set(reader.fieldnames):
            raise OrderImportError("the first line must name the columns order_number,status")
        return list(reader)


def order_lookup() -> Lookup:
    """The order lookup the deployment chose: the shop's endpoint, or the imported table."""
    config = current_app.config
    if config["ORDER_LOOKUP_URL"]:
        return find_order_over_http(
            config["ORDER_LOOKUP_URL"],
            timeout=config["ORDER_LOOKUP_TIMEOUT"],
            token=config["ORDER_LOOKUP_TOKEN"],
        )
    return find_order_in_table(db.session)
