"""Twilio's voice webhooks: thin views that hand the call to the flow and log what it did."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from ivr.callflow.call_log import (
    CallState,
    ensure_call,
    log_failure,
    log_status,
    log_turn,
    read_call,
)
from ivr.callflow.flow import Context, Flow, Turn, error_turn
from ivr.callflow.orders import order_lookup
from ivr.clock import utcnow
from ivr.database import db
from ivr.hotline import hotline
from ivr.models import Call
from ivr.text import whole_number
from ivr.twilio.fields import CALL_STATUS, call_facts, field, int_arg, twilio_number
from ivr.twilio.signature import is_callback, twilio_callback, twilio_webhook
from ivr.twilio.twiml import last_resort, twiml
from ivr.twilio.urls import external_url

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__, url_prefix="/voice")

MAX_STEP = 10_000


class UrlLinks:
    """The flow's URLs, built with url_for."""

    def node(self, node_id: str, *, lang: str | None, step: int, after_error: bool = False) -> str:
        """URL that enters a node."""
        err = 1 if after_error else None
        return external_url("voice.enter_node", node_id=node_id, lang=lang, s=step, err=err)

    def input(self, node_id: str, *, lang: str | None, step: int, attempt: int) -> str:
        """URL that receives the caller's keys at a node."""
        return external_url("voice.node_input", node_id=node_id, lang=lang, s=step, a=attempt)


def flow_for(call: Call | CallState, step: int) -> Flow:
    """The menu flow for one webhook of ``call``."""
    return start_flow(step, call.from_number, call.path, call.language)


def start_flow(step: int, caller: str, history: list[str], language: str | None) -> Flow:
    """The menu flow for one webhook of a call from ``caller`` that has visited ``history``."""
    app_hotline = hotline()
    context = Context(
        menu=app_hotline.menu,
        links=UrlLinks(),
        step=step,
        caller=caller,
        history=history,
        now=utcnow(),
        find_order=order_lookup(),
        find_case=app_hotline.case_lookup(db.session),
        handlers=app_hotline.handlers,
    )
    return Flow(context, request.args.get("lang") or language)


def _answer(node_id: str, step: int, act: Callable[[Flow, str], Turn]) -> Response:
    """Run the flow for one webhook at a node, log what it did once, and answer with TwiML.

    The call is read first and written last, in one short transaction (see ``ivr.callflow.call_log``).
    """
    facts = call_facts()
    conn = db.session.connection()
    call = read_call(conn, facts.sid)
    flow = start_flow(step, facts.from_number, [], None) if call is None else flow_for(call, step)
    if step == 0:
        flow.log("incoming", None, **{"from": facts.from_number, "to": facts.to_number})
    if node_id in hotline().menu.nodes:
        turn = act(flow, node_id)
    else:
        # The menu changed under a call in progress: start it again rather than fail.
        flow.log("unknown_node", None, requested=node_id[:64])
        turn = flow.enter(hotline().menu.start)
    log_turn(conn, facts, call, step, turn)
    db.session.commit()
    return twiml(turn.response)


@bp.post("/incoming")
@twilio_webhook
def incoming() -> Response:
    """A call comes in: log it and play the first node."""
    return _answer(hotline().menu.start, 0, lambda flow, node: flow.enter(node))


@bp.post("/node/<node_id>")
@twilio_webhook
def enter_node(node_id: str) -> Response:
    """Play a node that an earlier answer redirected to."""
    step = int_arg("s", 1, low=1, high=MAX_STEP)
    return _answer(node_id, step, lambda flow, node: flow.enter(node))


@bp.post("/input/<node_id>")
@twilio_webhook
def node_input(node_id: str) -> Response:
    """The caller answered a prompt (or did not: no Digits)."""
    step = int_arg("s", 1, low=1, high=MAX_STEP)
    attempt = int_arg("a", 0, low=0, high=50)
    digits = (request.form.get("Digits") or "")[:64] or None
    return _answer(node_id, step, lambda flow, node: flow.respond(node, digits, attempt))


@bp.post("/status")
@twilio_callback
def status() -> Response:
    """Twilio's status callback: close the call with its final status and duration."""
    facts = call_facts()
    state = field("CallStatus", pattern=CALL_STATUS, required=True)
    duration = twilio_number("CallDuration")
    sequence = twilio_number("SequenceNumber", high=999_999_999)
    conn = db.session.connection()
    log_status(conn, ensure_call(conn, facts), state, duration, sequence)
    db.session.commit()
    return Response(status=204)


@bp.post("/fallback")
@twilio_webhook
def fallback() -> Response:
    """Twilio's fallback URL, requested when our primary answer failed: apologise, take a message."""
    log.error(
        "Twilio fell back for %s: error %s at %s",
        request.form.get("CallSid", "?")[:64],
        request.form.get("ErrorCode", "?")[:16],
        request.form.get("ErrorUrl", "?")[:256],
    )
    return _apology(retry=True)


def _step() -> int:
    raw = request.args.get("s", "0")
    return whole_number(raw, 6) or 0


def _apology(*, retry: bool) -> Response:
    try:
        response = error_turn(hotline().menu, request.args.get("lang"), UrlLinks(), _step(), retry)
    except Exception:
        log.exception("could not build the apology; using the last resort")
        response = last_resort()
    return twiml(response)


@bp.errorhandler(Exception)
def apologise(exc: Exception) -> Response:
    """Any failure in a webhook still gives the caller words, never dead air.

    A status callback has no caller listening: it answers 503 so that Twilio's retry (see the
    README's connection overrides) delivers it again once the database is back.
    """
    if isinstance(exc, HTTPException):
        return Response(
            f"{exc.code} {exc.name}: {exc.description}\n", status=exc.code, mimetype="text/plain"
        )
    log.exception("webhook %s failed", request.path)
    db.session.rollback()
    if is_callback(request.endpoint):
        return Response(
            "503 Service Unavailable: try again\n",
            status=503,
            mimetype="text/plain",
            headers={"Retry-After": "1"},
        )
    _log_failure(exc)
    return _apology(retry=request.args.get("err") != "1")


def _log_failure(exc: Exception) -> None:
    """Note the failure in the call's history if the database still answers."""
    sid = request.form.get("CallSid", "")
    try:
        call = read_call(db.session.connection(), sid) if sid else None
        if call is not None:
            log_failure(db.session.connection(), call.id, _step(), type(exc).__name__)
            db.session.commit()
    except Exception:
        db.session.rollback()
        log.warning("could not log the failure for %s", sid[:64])
