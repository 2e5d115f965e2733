"""API routes for calls: the call log, one call's history, queues now, period figures."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from flask import Response, current_app, jsonify, request
from sqlalchemy import Select, or_, select

from ivr.api import bp
from ivr.api.auth import token_required
from ivr.api.errors import ApiError
from ivr.api.paging import (
    filter_choice,
    filter_dates,
    filter_exact,
    json_text,
    newest_first_page,
    parse_when,
)
from ivr.clock import iso, utcnow
from ivr.database import db
from ivr.hotline import hotline
from ivr.models import Call, CallEvent, Outcome, Scope, Wrapup
from ivr.queues.agents import AgentError, active_agent, find_agent
from ivr.queues.distribution import distribute_now
from ivr.queues.stats import period_stats, queues_now
from ivr.queues.wrapups import check_disposition, save_wrapup, wrapup_json, wrapups_by_call


def call_json(call: Call, wrapups: list[Wrapup] | None = None) -> dict[str, Any]:
    """A call as the API shows it, with the agents' wrap-ups."""
    return {
        "sid": call.sid,
        "from": call.from_number,
        "to": call.to_number,
        "caller_name": call.caller_name,
        "direction": call.direction,
        "status": call.status,
        "started_at": iso(call.started_at),
        "ended_at": iso(call.ended_at),
        "duration": call.duration,
        "language": call.language,
        "menu_path": call.path,
        "outcome": call.outcome,
        "rating": call.rating,
        "wrapups": [wrapup_json(w) for w in wrapups or []],
    }


def event_json(event: CallEvent) -> dict[str, Any]:
    """A call event as the API shows it."""
    return {"at": iso(event.at), "kind": event.kind, "node": event.node, "detail": event.detail}


def filter_calls(query: Select[tuple[Call]]) -> Select[tuple[Call]]:
    """Apply the list filters: since, until, number, outcome, status, language."""
    query = filter_dates(query, Call.started_at)
    if number := request.args.get("number"):
        query = query.where(or_(Call.from_number == number, Call.to_number == number))
    query = filter_choice(query, "outcome", Call.outcome, Outcome)
    return filter_exact(query, {"status": Call.status, "language": Call.language})


@bp.get("/calls")
@token_required(Scope.READ)
def list_calls() -> Response:
    """Calls, newest first, a page at a time (``next_cursor`` fetches the next page)."""
    page, next_cursor = newest_first_page(filter_calls(select(Call)), Call.started_at, Call.id)
    wrapups = wrapups_by_call(db.session, [c.id for c in page])
    data = [call_json(c, wrapups.get(c.id)) for c in page]
    return jsonify({"data": data, "next_cursor": next_cursor})


@bp.get("/calls/<sid>")
@token_required(Scope.READ)
def get_call(sid: str) -> Response:
    """One call with its events in order."""
    call = db.session.scalar(select(Call).where(Call.sid == sid[:64]))
    if call is None:
        raise ApiError(404, f"no call {sid[:64]}")
    events = db.session.scalars(
        select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.at, CallEvent.id)
    ).all()
    wrapups = wrapups_by_call(db.session, [call.id]).get(call.id)
    return jsonify({**call_json(call, wrapups), "events": [event_json(e) for e in events]})


@bp.post("/calls/<sid>/wrapup")
@token_required(Scope.WRITE)
def file_wrapup(sid: str) -> Response:
    """File an agent's wrap-up on the call (again: it replaces theirs); the agent is free at once.

    ``{"agent": NAME, "disposition": CODE, "note": TEXT}``; the codes are the menu's.
    """
    call = db.session.scalar(select(Call).where(Call.sid == sid[:64]))
    if call is None:
        raise ApiError(404, f"no call {sid[:64]}")
    try:
        agent = find_agent(db.session, (json_text("agent") or "")[:64])
    except AgentError as exc:
        raise ApiError(404, str(exc)) from None
    menu = hotline().menu
    try:
        disposition = check_disposition(menu, json_text("disposition") or "")
    except AgentError as exc:
        raise ApiError(400, str(exc)) from None
    try:
        row = save_wrapup(db.session, call, active_agent(agent), menu,
                          disposition=disposition, note=json_text("note") or "")  # fmt: skip
    except AgentError as exc:
        db.session.rollback()
        raise ApiError(409, str(exc)) from None
    db.session.commit()
    distribute_now()
    return jsonify(wrapup_json(row))


@bp.get("/queues")
@token_required(Scope.READ)
def list_queues() -> Response:
    """Each queue now: waiting, longest wait, agents available."""
    rows = queues_now(db.session, hotline().menu, utcnow())
    return jsonify({"data": rows})


@bp.get("/stats")
@token_required(Scope.READ)
def stats() -> Response:
    """Queue figures for a period (``from``/``to``, dates or times; default: today, UTC)."""
    today = datetime.combine(utcnow().date(), time.min, UTC)
    since = parse_when("from") or today
    until = parse_when("to", end_of_day=True) or datetime.combine(today.date(), time.max, UTC)
    if until < since:
        raise ApiError(400, "to must not be before from")
    target = float(current_app.config["HOTLINE_ANSWER_TARGET"])
    figures = period_stats(db.session, since, until, target)
    figures["from"], figures["to"] = iso(since), iso(until)
    return jsonify(figures)
