"""The audit log for supervisors: read-only, filtered by action, who and days, and as CSV."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext
from sqlalchemy import Select, select

from ivr.audit import ACTIONS
from ivr.clock import iso, local_day
from ivr.database import db
from ivr.models import AuditEvent
from ivr.web.auth import supervisor_required
from ivr.web.exports import csv_response
from ivr.web.i18n import localtime, reader_zone
from ivr.web.listing import keyset_page, order

bp = Blueprint("audit", __name__)
PAGE = 100
ORDERS = (order("newest", (AuditEvent.at, True), (AuditEvent.id, True)),)
CSV_LIMIT = 100_000


def audit_query() -> tuple[Select[tuple[AuditEvent]], str | None]:
    """The lines the request's filters choose, and a problem with them if any.

    ``action`` is an action's name, ``who`` part of the actor (``agent:ana``, ``token:crm``),
    ``from``/``to`` days in the reader's time zone.
    """
    query = select(AuditEvent)
    if action := request.args.get("action", "").strip()[:64]:
        query = query.where(AuditEvent.action == action)
    if who := request.args.get("who", "").strip()[:160]:
        query = query.where(AuditEvent.actor.contains(who, autoescape=True))
    zone = reader_zone()
    try:
        first = request.args.get("from") and date.fromisoformat(request.args["from"])
        last = request.args.get("to") and date.fromisoformat(request.args["to"])
        if first:
            query = query.where(AuditEvent.at >= local_day(first, zone)[0])
        if last:
            query = query.where(AuditEvent.at < local_day(last, zone)[1])
    except ValueError:
        return query, gettext("Dates must look like 2026-11-24; showing every day.")
    return query, None


@bp.get("/audit")
@supervisor_required
def index() -> str:
    """A page of audit lines, newest first."""
    query, problem = audit_query()
    page = keyset_page(db.session, query, ORDERS, request.args, size=PAGE)
    return render_template(
        "audit.html", rows=page.rows, page=page, actions=known_actions(), problem=problem
    )


@bp.get("/audit.csv")
@supervisor_required
def export() -> Response:
    """The filtered lines as CSV, times in UTC (ISO 8601) and in the reader's zone."""
    query, _ = audit_query()
    rows: list[list[Any]] = [
        [
            iso(e.at),
            localtime(e.at, "%Y-%m-%d %H:%M:%S"),
            e.action,
            e.actor,
            e.target,
            e.address,
            json.dumps(e.detail, ensure_ascii=False),
        ]
        for e in db.session.scalars(
            query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(CSV_LIMIT)
        )
    ]
    header = ["at_utc", "at_local", "action", "actor", "target", "address", "detail"]
    return csv_response("audit.csv", header, rows)


def known_actions() -> list[str]:
    """The actions to filter by: this module's and any others the log holds."""
    logged = db.session.scalars(select(AuditEvent.action).distinct())
    return sorted(set(ACTIONS) | set(logged))
