"""The JSON API under /api/v1: call records for other systems, behind bearer tokens."""

from __future__ import annotations

import base64
import binascii
import functools
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from ivr.agents import AgentError, active_agent, find_agent, set_presence, take_next
from ivr.extensions import MAX_ID, db, utcnow, whole_number
from ivr.figures import period_stats, queues_now
from ivr.models import Agent, Call, CallEvent, Outcome, Presence, Scope
from ivr.openapi import openapi_spec
from ivr.tokens import check_token
from ivr.twilio_client import TwilioError
from ivr.voice import external_url
from ivr.wiring import hotline

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class ApiError(Exception):
    """An error answered as JSON: ``{"error": {"status": …, "message": …}}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> Response:
    """The one shape every API error takes."""
    response = jsonify({"error": {"status": status, "message": message}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="hotline"'
    return response


@bp.errorhandler(Exception)
def api_error(exc: Exception) -> Response:
    """Every failure under /api/v1 is JSON, and a 500 says no more than that."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.message)
    if isinstance(exc, HTTPException):
        return error_response(exc.code or 500, exc.description or exc.name)
    if isinstance(exc, DataError):
        # The database refused a value the client sent (a NUL character on PostgreSQL…).
        db.session.rollback()
        return error_response(400, "a parameter holds a value the database cannot take")
    log.exception("API request %s failed", request.path)
    db.session.rollback()
    return error_response(500, "internal error; the details are in the server log")


def token_required(scope: Scope) -> Callable[[F], F]:
    """Refuse requests without a live ``Authorization: Bearer`` token holding ``scope``."""
    if not isinstance(scope, Scope):  # a bare @token_required, as before scopes existed
        raise TypeError("use @token_required(Scope.READ) or another Scope")

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise ApiError(401, "send Authorization: Bearer <token> (flask tokens create NAME)")
            row = check_token(db.session, token.strip())
            if row is None:
                raise ApiError(401, "the token is unknown or revoked")
            if scope not in row.scope_set:
                raise ApiError(403, f"this token lacks the {scope} scope this request needs")
            g.api_token = row
            return view(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate


def iso(value: datetime | None) -> str | None:
    """A UTC timestamp in ISO 8601 with a Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def call_json(call: Call) -> dict[str, Any]:
    """A call as the API shows it."""
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
    }


def event_json(event: CallEvent) -> dict[str, Any]:
    """A call event as the API shows it."""
    return {"at": iso(event.at), "kind": event.kind, "node": event.node, "detail": event.detail}


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
    raw = f"{at.astimezone(UTC).isoformat()}|{ident}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Undo ``encode_cursor``; a 400 for anything we did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        started, _, ident = raw.partition("|")
        moment = datetime.fromisoformat(started)
        number = whole_number(ident)
        if moment.tzinfo is None or number is None or number > MAX_ID:
            raise ValueError
        # In UTC here, as the database compares: some times at the calendar's ends have none.
        return moment.astimezone(UTC), number
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "cursor is not one this API returned") from None


def newest_first_page(query: Select[Any], at: Any, ident: Any) -> tuple[list[Any], str | None]:
    """One page of ``query``, newest first by (at, ident), from the request's cursor and limit."""
    limit = limit_arg()
    if cursor := request.args.get("cursor"):
        moment, last = decode_cursor(cursor)
        query = query.where(or_(at < moment, and_(at == moment, ident < last)))
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
    return jsonify({"data": [call_json(c) for c in page], "next_cursor": next_cursor})


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
    return jsonify({**call_json(call), "events": [event_json(e) for e in events]})


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


def agent_json(agent: Agent) -> dict[str, Any]:
    """An agent as the API shows it (never the password hash)."""
    return {
        "name": agent.name,
        "role": agent.role,
        "phone": agent.phone,
        "languages": agent.languages,
        "topics": agent.topics,
        "presence": agent.presence,
        "wrapup_until": iso(agent.wrapup_until),
        "disabled": agent.disabled_at is not None,
    }


def _agent(name: str) -> Agent:
    try:
        return find_agent(db.session, name[:64])
    except AgentError as exc:
        raise ApiError(404, str(exc)) from None


@bp.get("/agents")
@token_required(Scope.READ)
def list_agents() -> Response:
    """All agents with their presence."""
    agents = db.session.scalars(select(Agent).order_by(Agent.name)).all()
    return jsonify({"data": [agent_json(a) for a in agents]})


@bp.post("/agents/<name>/presence")
@token_required(Scope.WRITE)
def change_presence(name: str) -> Response:
    """Set an agent's presence: ``{"presence": "available" | "busy" | "away"}``."""
    agent = _agent(name)
    try:
        active_agent(agent)
    except AgentError as exc:
        raise ApiError(409, str(exc)) from None
    value = json_text("presence")
    if value not in {p.value for p in Presence}:
        raise ApiError(400, "presence must be one of " + ", ".join(p.value for p in Presence))
    set_presence(agent, Presence(value))
    db.session.commit()
    return jsonify(agent_json(agent))


@bp.post("/agents/<name>/take-next")
@token_required(Scope.WRITE)
def take_next_caller(name: str) -> Response:
    """Connect the agent to the caller who has waited longest among the queues they serve."""
    agent = _agent(name)
    try:
        offer = take_next(db.session, agent, current_app.config, twilio_url)
    except AgentError as exc:
        raise ApiError(409, str(exc)) from None
    except TwilioError as exc:
        raise ApiError(502, str(exc)) from None
    if offer is None:
        return jsonify({"offer": None, "message": "nobody is waiting for you"})
    return jsonify({"offer": {"entry": offer.entry_id, "call_sid": offer.call_sid,
                              "queue": offer.queue, "callback": offer.callback,
                              "waited": offer.waited}})  # fmt: skip


def twilio_url(endpoint: str, **values: Any) -> str:
    """An absolute URL for Twilio to fetch (REST calls need absolute URLs)."""
    return external_url(endpoint, **values)


@bp.get("/openapi.json")
def openapi() -> Response:
    """This API's OpenAPI description (public: it holds no data)."""
    return jsonify(openapi_spec())
