"""Webhooks of the agent's leg of a call: the agent answers (and joins the caller's room), their
Dial ends, their leg's status, and a call-back's legs to the agent and the customer."""

from __future__ import annotations

import contextlib
import functools
import logging

from flask import Blueprint, Response, current_app, request
from twilio.twiml.voice_response import VoiceResponse

from ivr.callflow.webhooks import apologise
from ivr.database import db, find
from ivr.hotline import hotline
from ivr.models import Agent, Call, EntryState, Presence, QueueEntry
from ivr.numbers import heard_number
from ivr.queues.agents import agent_language
from ivr.queues.controls import consult_missed
from ivr.queues.conversation import agent_joins, caller_gone, conference_name
from ivr.queues.distribution import distribute_now, missed, rules_for
from ivr.queues.entries import (
    CLAIMED,
    MISSED,
    bridge,
    callback_unanswered,
    conversation_over,
    hotline_number,
    leg_ended,
    refuse_disabled_agent,
    release,
    unbridge,
)
from ivr.queues.leg_args import number, queue_entry
from ivr.text import whole_number
from ivr.twilio.fields import CALL_SID, WORD, field
from ivr.twilio.rest import TwilioError, add_participant, call_status, update_call
from ivr.twilio.signature import twilio_callback, twilio_webhook
from ivr.twilio.twiml import spell_digits, twiml
from ivr.twilio.urls import external_url

log = logging.getLogger(__name__)
bp = Blueprint("agent", __name__, url_prefix="/voice/agent")
bp.register_error_handler(Exception, apologise)
CALL_NOT_LIVE = 21220  # Twilio: the call is not in progress, it cannot be redirected


def _leg_agent() -> int | None:
    """The agent whose leg this request belongs to (in our own signed URLs), if they exist.

    An agent deleted since the URL was made (or an id no column holds) names no one.
    """
    ident = whole_number(request.args.get("agent", ""))
    agent = None if ident is None else find(Agent, ident)
    return agent.id if agent is not None else None


def _leg_agent_row(entry: QueueEntry) -> Agent | None:
    """The agent on this leg: from our URL, else the one who claimed the entry."""
    agent_id = _leg_agent() or entry.agent_id
    return db.session.get(Agent, agent_id) if agent_id else None


def _disabled_leg(entry: QueueEntry) -> VoiceResponse | None:
    """A hang-up for an agent disabled while their phone rang; the caller goes back in line."""
    if not refuse_disabled_agent(db.session, entry, _leg_agent_row(entry)):
        return None
    response = VoiceResponse()
    response.hangup()
    return response


@bp.post("/connect")
@twilio_webhook
def connect() -> Response:
    """The agent answered: tell them who is waiting, and join them with the caller.

    The caller is moved out of the queue into the conference named for their call, where the
    agent joins; a caller who has gone meanwhile is announced and the agent is free again.
    """
    entry = queue_entry()
    if (refused := _disabled_leg(entry)) is not None:
        return twiml(refused)
    agent = _leg_agent_row(entry)
    menu, lang = hotline().menu, agent_language(agent)
    call = db.session.get(Call, entry.call_id)
    leg = field("CallSid", pattern=CALL_SID, required=True)
    made = bridge(db.session, call, entry, agent, leg=leg) if agent and call else None
    db.session.commit()
    if made is None or agent is None or call is None:
        return twiml(caller_gone(menu, lang))
    if made == "new":
        step = (entry.step or 0) + 1
        try:
            update_call(current_app.config, entry.call_sid,
                        url=external_url("queue.join", entry=entry.id, s=step))  # fmt: skip
        except TwilioError as exc:
            log.warning("could not move caller %s to agent %s: %s", call.sid, agent.name, exc)
            unbridge(db.session, call, entry, agent, gone=exc.code == CALL_NOT_LIVE)
            db.session.commit()
            distribute_now()
            return twiml(caller_gone(menu, lang))
    waited = entry.wait_seconds or 0
    text = menu.phrase(
        "agent_whisper", lang,
        topic=menu.name_of(menu.topics, entry.topic, lang),
        spoken=menu.name_of(menu.language_names, entry.language, lang),
        minutes=str(waited // 60), seconds=str(waited % 60),
    )  # fmt: skip
    action = external_url("agent.dialed", entry=entry.id, agent=agent.id)
    return twiml(agent_joins(menu, lang, text, entry.call_sid, action=action,
                             label=f"agent-{agent.id}",
                             events=external_url("queue.conference")))  # fmt: skip


@bp.post("/dialed")
@twilio_webhook
def dialed() -> Response:
    """The agent's Dial ended: the conversation is over (or never happened)."""
    entry = queue_entry()
    customer = entry.caller_leg if entry.state == EntryState.DIALING else None
    conversation_over(
        db.session,
        entry,
        status=field("DialCallStatus", pattern=WORD),
        talk=number("DialCallDuration"),
        wrapup=current_app.config["HOTLINE_WRAPUP_SECONDS"],
        agent_id=_leg_agent(),
        customer_answered=_customer_answered(entry),
    )
    _let_customer_go(entry, customer)
    distribute_now()  # the agent is free (after any wrap-up), or the offer came to nothing
    response = VoiceResponse()
    response.hangup()
    return twiml(response)


@bp.post("/status", endpoint="status")
@twilio_callback
def agent_status() -> Response:
    """Status of the agent's leg: an agent who did not answer gives the caller back."""
    entry = queue_entry()
    status = field("CallStatus", pattern=WORD, required=True)
    agent = _leg_agent_row(entry)
    wrapup = current_app.config["HOTLINE_WRAPUP_SECONDS"]
    rules = rules_for(hotline().menu, entry.topic)
    after_miss = functools.partial(missed, rules=rules) if rules.automatic else None
    talk = number("CallDuration")
    consulting = entry.conference_sid is not None and entry.state in CLAIMED
    customer = entry.caller_leg if entry.state == EntryState.DIALING else None
    if leg_ended(db.session, entry, agent, status=status, wrapup=wrapup, talk=talk,
                 leg=field("CallSid", pattern=CALL_SID), after_miss=after_miss,
                 customer_answered=_customer_answered(entry) if status == "completed" else None):  # fmt: skip
        if consulting:
            consult_missed(current_app.config, entry)
        distribute_now()  # the next agent
    _let_customer_go(entry, customer)
    return Response(status=204)


def _customer_answered(entry: QueueEntry) -> bool | None:
    """Whether the customer of a call-back answered, as Twilio says (None: not a call-back
    ringing the customer, or Twilio could not say). The report of their room's start can come
    after the agent's leg ended, and a call-back taken for unanswered rings them again."""
    if entry.state != EntryState.DIALING or not entry.caller_leg:
        return None
    try:
        return call_status(current_app.config, entry.caller_leg) in ("in-progress", "completed")
    except TwilioError as exc:
        log.warning("could not ask Twilio whether %s answered: %s", entry.caller_leg, exc)
        return None


def _let_customer_go(entry: QueueEntry, customer: str | None) -> None:
    """A call-back back in line (the agent left before the customer came): the customer's leg,
    maybe still ringing, is ended rather than left to answer into an empty room."""
    if customer and entry.state == EntryState.CALLBACK:
        entry.caller_leg = None
        db.session.commit()
        with contextlib.suppress(TwilioError):
            update_call(current_app.config, customer, status="completed")


@bp.post("/callback")
@twilio_webhook
def callback() -> Response:
    """The agent answered a call-back: the customer's phone is rung into the conversation's
    room while the agent hears whom they call, then joins it (hold, mute and adding a number
    work as in any conversation)."""
    entry = queue_entry()
    if (refused := _disabled_leg(entry)) is not None:
        return twiml(refused)
    agent = _leg_agent_row(entry)
    menu, lang = hotline().menu, agent_language(agent)
    if agent is None or entry.state != EntryState.DIALING or entry.agent_id != agent.id:
        return twiml(caller_gone(menu, lang))  # the offer moved on meanwhile
    config = current_app.config
    if not entry.caller_leg:
        try:
            entry.caller_leg = add_participant(
                config, conference_name(entry.call_sid), to=entry.from_number,
                from_=config["HOTLINE_CALLER_ID"] or hotline_number(db.session, entry),
                status_callback=external_url("agent.customer", entry=entry.id),
                label="caller", end_on_exit=True, room_events=external_url("queue.conference"),
            )  # fmt: skip
        except TwilioError as exc:
            log.warning("could not ring %s back: %s", entry.from_number, exc)
            db.session.rollback()
            release(db.session, entry, agent, presence=Presence.AVAILABLE, why="failed")
            return twiml(caller_gone(menu, lang))
    entry.agent_call_sid = field("CallSid", pattern=CALL_SID) or entry.agent_call_sid
    db.session.commit()
    text = menu.phrase(
        "callback_whisper", lang,
        topic=menu.name_of(menu.topics, entry.topic, lang), number=spell_digits(heard_number(entry.from_number, agent.may_see_numbers)),
    )  # fmt: skip
    action = external_url("agent.dialed", entry=entry.id, agent=agent.id)
    return twiml(agent_joins(menu, lang, text, entry.call_sid, action=action,
                             label=f"agent-{agent.id}",
                             events=external_url("queue.conference")))  # fmt: skip


@bp.post("/customer", endpoint="customer")
@twilio_callback
def customer_status() -> Response:
    """Status of the customer's leg of a call-back: unanswered, the request keeps its place (or
    is given up after a few tries) and the agent, alone in the room, is let go."""
    entry = queue_entry()
    status = field("CallStatus", pattern=WORD, required=True)
    leg = field("CallSid", pattern=CALL_SID)
    if status not in MISSED or (entry.caller_leg and leg and leg != entry.caller_leg):
        return Response(status=204)
    agent_leg = entry.agent_call_sid
    if callback_unanswered(db.session, entry, status=status):
        db.session.commit()
        if agent_leg:
            with contextlib.suppress(TwilioError):
                update_call(current_app.config, agent_leg, status="completed")
        distribute_now()
    return Response(status=204)
