"""API routes for agents: list them, set presence, take the next caller, act on the conversation."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify
from sqlalchemy import select

from ivr.api import bp
from ivr.api.auth import token_required
from ivr.api.errors import ApiError
from ivr.api.paging import json_text
from ivr.clock import iso
from ivr.database import db
from ivr.models import Agent, Presence, Scope
from ivr.queues.agents import AgentError, active_agent, choose_presence, find_agent
from ivr.queues.controls import CONTROLS, act
from ivr.queues.distribution import distribute_now
from ivr.queues.entries import take_next
from ivr.twilio.rest import TwilioError
from ivr.twilio.urls import external_url


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
    choose_presence(agent, Presence(value))
    db.session.commit()
    distribute_now()
    return jsonify(agent_json(agent))


@bp.post("/agents/<name>/take-next")
@token_required(Scope.WRITE)
def take_next_caller(name: str) -> Response:
    """Connect the agent to the caller who has waited longest among the queues they serve."""
    agent = _agent(name)
    try:
        offer = take_next(db.session, agent, current_app.config, external_url)
    except AgentError as exc:
        raise ApiError(409, str(exc)) from None
    except TwilioError as exc:
        raise ApiError(502, str(exc)) from None
    if offer is None:
        return jsonify({"offer": None, "message": "nobody is waiting for you"})
    return jsonify({"offer": {"entry": offer.entry_id, "call_sid": offer.call_sid,
                              "queue": offer.queue, "callback": offer.callback,
                              "waited": offer.waited}})  # fmt: skip


@bp.post("/agents/<name>/conversation")
@token_required(Scope.WRITE)
def control_conversation(name: str) -> Response:
    """Act on the agent's live conversation: hold, resume, mute, unmute, hang up; transfer the
    caller to a queue (``queue``: a queue node) or an agent (``agent``); consult an agent, then
    hand over or make it a three-way call; add a phone number (``number``)."""
    agent = _agent(name)
    action = json_text("action")
    if action not in CONTROLS:
        raise ApiError(400, f"action must be one of {', '.join(CONTROLS)}")
    try:
        entry = act(agent, action, queue=json_text("queue"), agent=json_text("agent"),
                    number=json_text("number"))  # fmt: skip
    except AgentError as exc:
        db.session.rollback()
        raise ApiError(409, str(exc)) from None
    except TwilioError as exc:
        db.session.rollback()
        raise ApiError(502, str(exc)) from None
    return jsonify({"action": action, "call_sid": entry.call_sid, "queue": entry.queue})
