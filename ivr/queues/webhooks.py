"""Webhooks around the queues: the waiting caller's loop and the agent's leg of a call."""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from ivr.callflow.call_log import TERMINAL, log_event, open_call, record_turn, step_logged
from ivr.callflow.menu import Node
from ivr.callflow.webhooks import apologise, flow_for
from ivr.database import db, find
from ivr.hotline import hotline
from ivr.models import Agent, Call, EntryState, Outcome, Presence, QueueEntry
from ivr.queues.agents import agent_language
from ivr.queues.controls import back_in_line, consult_missed
from ivr.queues.conversation import (
    agent_joins,
    caller_gone,
    caller_joins,
    caller_of,
    conference_name,
    hold_music,
)
from ivr.queues.distribution import distribute_now, missed, rules_for
from ivr.queues.entries import (
    CLAIMED,
    MISSED,
    STARTED,
    announced,
    ask_to_leave,
    bridge,
    callback_unanswered,
    conversation_over,
    enter,
    hotline_number,
    joined_consultation,
    left_queue,
    leg_ended,
    never_reached,
    note_conference,
    open_entry,
    refuse_disabled_agent,
    release,
    reopen,
    talk_over,
    time_out,
    unbridge,
)
from ivr.queues.waiting import (
    announce_due,
    estimate_wait,
    handle_seconds,
    leave_twiml,
    queue_name,
    signed_in_agents,
    wait_twiml,
)
from ivr.text import whole_number
from ivr.twilio.fields import (
    CALL_SID,
    ONE_DAY,
    QUEUE_PLACES,
    WORD,
    call_facts,
    field,
    int_arg,
    twilio_number,
)
from ivr.twilio.rest import TwilioError, add_participant, update_call
from ivr.twilio.signature import twilio_callback, twilio_webhook
from ivr.twilio.twiml import speak, spell_digits, twiml
from ivr.twilio.urls import external_url

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
bp = Blueprint("queue", __name__, url_prefix="/voice/queue")
agent_bp = Blueprint("agent", __name__, url_prefix="/voice/agent")
for blueprint in (bp, agent_bp):
    blueprint.register_error_handler(Exception, apologise)

KEY = re.compile(r"[0-9*#]{0,8}")
EVENT_NAME = re.compile(r"[a-z-]{1,40}")
CONFERENCE_NAME = re.compile(r"[\w-]{1,128}")
CALL_NOT_LIVE = 21220  # Twilio: the call is not in progress, it cannot be redirected
RATING = {"1", "2", "3", "4", "5"}


def _queue_node() -> tuple[Node, str]:
    """The queue node and language named in our own URL."""
    menu = hotline().menu
    node = menu.nodes.get(request.args.get("n", ""))
    lang = request.args.get("lang", "")
    if node is None or node.type != "queue" or lang not in menu.languages:
        from werkzeug.exceptions import BadRequest

        raise BadRequest("n must name a queue node and lang a menu language")
    return node, lang


def _answer_on_failure(answer: Callable[[], VoiceResponse]) -> Callable[[F], F]:
    """A failure answers ``answer()`` instead of the usual apology.

    That apology redirects to a message, whose <Record> Twilio does not play where only a few
    verbs are allowed: in a waitUrl or a <Queue url> (Play, Say, Pause, Redirect).
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return view(*args, **kwargs)
            except HTTPException:
                raise
            except Exception:
                log.exception("webhook %s failed", request.path)
                db.session.rollback()
                return twiml(answer())

        return guarded  # type: ignore[return-value]

    return decorate


def _apologise_and_leave() -> VoiceResponse:
    """The apology, then out of the queue: the Enqueue action takes the message it promises."""
    _, lang = _queue_node()
    return leave_twiml(hotline().menu, lang, "error")


def _number(name: str, default: int = 0, *, high: int = ONE_DAY) -> int:
    value = twilio_number(name, high=high)
    return default if value is None else value


@bp.post("/wait")
@twilio_webhook
@_answer_on_failure(_apologise_and_leave)
def wait() -> Response:
    """Twilio's waitUrl, requested again and again while the caller waits."""
    node, lang = _queue_node()
    menu = hotline().menu
    call = open_call(db.session, call_facts())
    topic = str(node.settings["queue"])
    name = queue_name(topic, lang)
    step = int_arg("s", 0, low=0, high=10_000)
    if call.status in TERMINAL or (step and step_logged(db.session.connection(), call.id, step)):
        # A late or replayed request: the call has ended, or its Enqueue action came already.
        # It must not put a caller who has gone back in line for an agent to be rung for.
        db.session.commit()
        return twiml(leave_twiml(menu, lang, None))
    entry = enter(db.session, call, queue=name, topic=topic, language=lang, node=node.id,
                  step=step or None)  # fmt: skip
    position = max(_number("QueuePosition", 1, high=QUEUE_PLACES), 1)
    waited = _number("QueueTime")
    key_url = external_url("queue.key", n=node.id, lang=lang)
    max_wait = int(node.settings.get("max_wait", 600))
    if time_out(db.session, call, entry, node=node.id, waited=waited, max_wait=max_wait):
        response = leave_twiml(menu, lang, "queue_timeout")
    else:
        announce = None
        if announce_due(entry, waited, menu.announce_every):
            agents = signed_in_agents(db.session, topic, lang)
            handle = handle_seconds(db.session, topic, current_app.config["HOTLINE_WRAPUP_SECONDS"])
            estimate = estimate_wait(position, len(agents), handle)
            announce = (position, estimate)
            announced(entry, waited)
            log_event(
                db.session, call, "queue_position", node.id,
                queue=name, position=position, estimate=estimate, waited=waited, agents=len(agents),
            )  # fmt: skip
        response = wait_twiml(menu, lang, announce=announce, key_url=key_url)
    db.session.commit()
    if entry.state == EntryState.WAITING and rules_for(menu, topic).automatic:
        distribute_now()  # each hold-music request: a free agent is rung within one loop
    return twiml(response)


@bp.post("/key")
@twilio_webhook
def key() -> Response:
    """A key pressed while waiting: 1 leaves a message now, 2 asks for a callback."""
    node, lang = _queue_node()
    call = open_call(db.session, call_facts())
    entry = open_entry(db.session, call.sid, queue_name(str(node.settings["queue"]), lang))
    digits = field("Digits", pattern=KEY)
    reason = {"1": "message", "2": "callback"}.get(digits)
    if entry is None or reason is None:
        return twiml(VoiceResponse())  # back to the wait loop
    if not ask_to_leave(db.session, call, entry, reason, node=node.id, digits=digits):
        return twiml(VoiceResponse())
    db.session.commit()
    return twiml(leave_twiml(hotline().menu, lang, None))


@bp.post("/done")
@twilio_webhook
def done() -> Response:
    """The Enqueue action: the caller left the queue, for a conversation or otherwise."""
    node, lang = _queue_node()
    call = open_call(db.session, call_facts())
    step = int_arg("s", 1, low=1, high=10_000)
    result = field("QueueResult", pattern=WORD, required=True)
    waited = _number("QueueTime")
    entry = open_entry(db.session, call.sid, queue_name(str(node.settings["queue"]), lang))
    flow = flow_for(call, step)
    flow.log("queue_left", node.id, result=result, waited=waited,
             reason=entry.leave_reason if entry else None)  # fmt: skip
    became = left_queue(db.session, call, entry, result=result, waited=waited)
    if became == "conversation":
        pass  # Twilio follows the call update; this answer is not played
    elif became == "bridged":
        flow.outcome = Outcome.AGENT
        _ask_rating(flow.response, lang, step)
    elif became == "callback":
        flow.say("callback_confirmed")
        flow.response.hangup()
    elif became == "left":
        if result not in ("leave", "redirected"):
            flow.say("agents_busy")
        assert node.fallback is not None
        flow.enter(node.fallback)
    record_turn(db.session, call, step, flow.turn())
    db.session.commit()
    if became == "callback":
        distribute_now()
    return twiml(flow.response)


def _ask_rating(response: VoiceResponse, lang: str, step: int) -> None:
    menu = hotline().menu
    url = external_url("queue.rate", lang=lang, s=step + 1)
    gather = response.gather(input="dtmf", num_digits=1, action=url, method="POST", timeout=6)
    speak(gather, menu.phrase("rate_call", lang), menu.languages[lang])
    response.redirect(url, method="POST")


@bp.post("/rate")
@twilio_webhook
def rate() -> Response:
    """The caller's rating after the conversation, then the offer to leave a message."""
    menu = hotline().menu
    lang = request.args.get("lang", "")
    lang = lang if lang in menu.languages else next(iter(menu.languages))
    call = open_call(db.session, call_facts())
    step = int_arg("s", 1, low=1, high=10_000)
    digits = field("Digits", pattern=KEY)
    response = VoiceResponse()
    voice = menu.languages[lang]
    flow = flow_for(call, step)
    if digits in RATING:
        call.rating = int(digits)
        flow.log("rating", None, rating=int(digits))
        speak(response, menu.phrase("rating_thanks", lang), voice)
    else:
        flow.log("rating", None, rating=None)
    after = "after_call" if "after_call" in menu.nodes else None
    if after:
        url = external_url("queue.after", lang=lang, s=step + 1)
        gather = response.gather(input="dtmf", num_digits=1, action=url, method="POST", timeout=5)
        speak(gather, menu.phrase("after_call_offer", lang), voice)
    speak(response, menu.phrase("goodbye", lang), voice)
    response.hangup()
    record_turn(db.session, call, step, flow.turn())
    db.session.commit()
    return twiml(response)


@bp.post("/after")
@twilio_webhook
def after() -> Response:
    """1 after the rating: a message about this call (category after_call)."""
    call = open_call(db.session, call_facts())
    step = int_arg("s", 1, low=1, high=10_000)
    flow = flow_for(call, step)
    if field("Digits", pattern=KEY) == "1" and "after_call" in hotline().menu.nodes:
        turn = flow.enter("after_call")
    else:
        flow.say("goodbye")
        flow.response.hangup()
        turn = flow.turn()
    record_turn(db.session, call, step, turn)
    db.session.commit()
    return twiml(turn.response)


# -- the agent's leg ---------------------------------------------------------------------------


def _entry() -> QueueEntry:
    ident = whole_number(request.args.get("entry", ""))
    entry = None if ident is None else find(QueueEntry, ident)
    if entry is None:
        from werkzeug.exceptions import NotFound

        raise NotFound("no such queue entry")
    return entry


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


@agent_bp.post("/connect")
@twilio_webhook
def connect() -> Response:
    """The agent answered: tell them who is waiting, and join them with the caller.

    The caller is moved out of the queue into the conference named for their call, where the
    agent joins; a caller who has gone meanwhile is announced and the agent is free again.
    """
    entry = _entry()
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


@bp.post("/join")
@twilio_webhook
def join() -> Response:
    """The caller, moved out of the queue by the agent's answer: into the conversation."""
    entry = _entry()
    call = open_call(db.session, call_facts())
    step = int_arg("s", 1, low=1, high=10_000)
    if entry.call_sid != call.sid or entry.state != EntryState.BRIDGED:
        # Not (or no longer) this caller's conversation: back in line for the next agent.
        turn = flow_for(call, step).enter(entry.node)
        record_turn(db.session, call, step, turn)
        db.session.commit()
        return twiml(turn.response)
    db.session.commit()
    menu = hotline().menu
    return twiml(
        caller_joins(
            menu, entry.language, call.sid,
            action=external_url("queue.talked", entry=entry.id, s=step + 1),
            music=external_url("queue.music", entry=entry.id),
            events=external_url("queue.conference"),
        )
    )  # fmt: skip


@bp.post("/talked")
@twilio_webhook
def talked() -> Response:
    """The caller's conference ended while they are still on the line: ask for a rating."""
    entry = _entry()
    call = open_call(db.session, call_facts())
    step = int_arg("s", 1, low=1, high=10_000)
    flow = flow_for(call, step)
    if never_reached(db.session, entry):
        reopen(db.session, call, entry)
    if entry.state in (EntryState.WAITING, EntryState.OFFERED):
        # The agent left before reaching the room (during the whisper): back in line, where the
        # stay waits with its place.
        turn = flow.enter(entry.node)
        record_turn(db.session, call, step, turn)
        db.session.commit()
        return twiml(turn.response)
    talk_over(entry)
    flow.outcome = Outcome.AGENT
    _ask_rating(flow.response, entry.language, step)
    record_turn(db.session, call, step, flow.turn())
    db.session.commit()
    return twiml(flow.response)


@bp.post("/music")
@twilio_webhook
def music() -> Response:
    """The conference's waitUrl and HoldUrl: music while the agent comes or the caller holds.

    A caller who still waits in the room after their agent's leg ended (the agent hung up during
    the whisper) is put back in line with their place and moved out of the room to the queue:
    the caller's own requests say so, whatever order Twilio's other reports come in.
    """
    ident = whole_number(request.args.get("entry", ""))
    entry = None if ident is None else find(QueueEntry, ident)
    call = open_call(db.session, call_facts())
    if entry is not None and entry.call_sid == call.sid and never_reached(db.session, entry):
        reopen(db.session, call, entry)
        db.session.commit()
        distribute_now()
    if entry is not None and entry.call_sid == call.sid and entry.state == EntryState.WAITING:
        back_in_line(current_app.config, entry)
    return twiml(hold_music(hotline().menu))


HOLD_EVENTS = {"participant-hold": "held", "participant-unhold": "resumed"}
CONFERENCE_SID = re.compile(r"CF[0-9a-f]{32}")
LABEL = re.compile(r"[\w-]{1,64}")
CONSULT = re.compile(r"consult-([0-9]{1,9})")


@bp.post("/conference", endpoint="conference")
@twilio_callback
def conference_events() -> Response:
    """The conversation's conference reports: its sid is kept (Twilio changes participants by
    it), and holds go on the caller's timeline."""
    event = field("StatusCallbackEvent", pattern=EVENT_NAME, required=True)
    caller = caller_of(field("FriendlyName", pattern=CONFERENCE_NAME))
    if caller is None:
        return Response(status=204)
    if event in ("conference-start", "participant-join"):
        note_conference(db.session, caller, field("ConferenceSid", pattern=CONFERENCE_SID))
        call = db.session.scalar(select(Call).where(Call.sid == caller))
        if event == "conference-start" and call is not None:
            log_event(db.session, call, STARTED, None)  # the agent is in the room: they talk
        consulted = CONSULT.fullmatch(field("ParticipantLabel", pattern=LABEL))
        if event == "participant-join" and consulted:
            joined_consultation(db.session, caller, int(consulted[1]),
                                field("CallSid", pattern=CALL_SID, required=True))  # fmt: skip
    elif (kind := HOLD_EVENTS.get(event)) is not None:
        held = field("CallSid", pattern=CALL_SID)
        call = db.session.scalar(select(Call).where(Call.sid == caller))
        talking = db.session.scalar(
            select(Agent.name)
            .join(QueueEntry, QueueEntry.agent_id == Agent.id)
            .where(QueueEntry.call_sid == caller, QueueEntry.state == EntryState.BRIDGED)
            .order_by(QueueEntry.bridged_at.desc())
            .limit(1)
        )
        if call is not None:
            # ``agent``: whose conversation it is (the figures add its hold time to them).
            log_event(db.session, call, kind, None, agent=talking,
                      party="caller" if held == caller else "agent", call_sid=held)  # fmt: skip
    db.session.commit()
    return Response(status=204)


@agent_bp.post("/dialed")
@twilio_webhook
def dialed() -> Response:
    """The agent's Dial ended: the conversation is over (or never happened)."""
    entry = _entry()
    customer = entry.caller_leg if entry.state == EntryState.DIALING else None
    conversation_over(
        db.session,
        entry,
        status=field("DialCallStatus", pattern=WORD),
        talk=_number("DialCallDuration"),
        wrapup=current_app.config["HOTLINE_WRAPUP_SECONDS"],
        agent_id=_leg_agent(),
    )
    _let_customer_go(entry, customer)
    distribute_now()  # the agent is free (after any wrap-up), or the offer came to nothing
    response = VoiceResponse()
    response.hangup()
    return twiml(response)


@agent_bp.post("/status", endpoint="status")
@twilio_callback
def agent_status() -> Response:
    """Status of the agent's leg: an agent who did not answer gives the caller back."""
    entry = _entry()
    status = field("CallStatus", pattern=WORD, required=True)
    agent = _leg_agent_row(entry)
    wrapup = current_app.config["HOTLINE_WRAPUP_SECONDS"]
    rules = rules_for(hotline().menu, entry.topic)
    after_miss = functools.partial(missed, rules=rules) if rules.automatic else None
    talk = _number("CallDuration")
    consulting = entry.conference_sid is not None and entry.state in CLAIMED
    customer = entry.caller_leg if entry.state == EntryState.DIALING else None
    if leg_ended(db.session, entry, agent, status=status, wrapup=wrapup, talk=talk,
                 leg=field("CallSid", pattern=CALL_SID), after_miss=after_miss):  # fmt: skip
        if consulting:
            consult_missed(current_app.config, entry)
        distribute_now()  # the next agent
    _let_customer_go(entry, customer)
    return Response(status=204)


def _let_customer_go(entry: QueueEntry, customer: str | None) -> None:
    """A call-back back in line (the agent left before the customer came): the customer's leg,
    maybe still ringing, is ended rather than left to answer into an empty room."""
    if customer and entry.state == EntryState.CALLBACK:
        entry.caller_leg = None
        db.session.commit()
        with contextlib.suppress(TwilioError):
            update_call(current_app.config, customer, status="completed")


@agent_bp.post("/callback")
@twilio_webhook
def callback() -> Response:
    """The agent answered a call-back: the customer's phone is rung into the conversation's
    room while the agent hears whom they call, then joins it (hold, mute and adding a number
    work as in any conversation)."""
    entry = _entry()
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
        topic=menu.name_of(menu.topics, entry.topic, lang), number=spell_digits(entry.from_number),
    )  # fmt: skip
    action = external_url("agent.dialed", entry=entry.id, agent=agent.id)
    return twiml(agent_joins(menu, lang, text, entry.call_sid, action=action,
                             label=f"agent-{agent.id}",
                             events=external_url("queue.conference")))  # fmt: skip


@agent_bp.post("/customer", endpoint="customer")
@twilio_callback
def customer_status() -> Response:
    """Status of the customer's leg of a call-back: unanswered, the request keeps its place (or
    is given up after a few tries) and the agent, alone in the room, is let go."""
    entry = _entry()
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
