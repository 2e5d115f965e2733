"""Webhooks around the queues: the waiting caller's loop, leaving the queue, the rating, and the
caller's side of the conversation's room (joining it, its music, its reports). The agent's leg
is ``ivr.queues.agent_legs``."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, request
from sqlalchemy import func, select
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from ivr.callflow.call_log import TERMINAL, log_event, open_call, record_turn, step_logged
from ivr.callflow.menu import Node
from ivr.callflow.webhooks import apologise, flow_for
from ivr.database import db, find
from ivr.hotline import hotline
from ivr.models import Agent, Call, EntryState, Outcome, QueueEntry
from ivr.queues.controls import back_in_line
from ivr.queues.conversation import (
    caller_joins,
    caller_of,
    conference_name,
    hold_music,
)
from ivr.queues.distribution import distribute_now, rules_for
from ivr.queues.entries import (
    STARTED,
    announced,
    ask_to_leave,
    enter,
    joined_consultation,
    left_queue,
    never_reached,
    note_conference,
    open_entry,
    reopen,
    talk_over,
    time_out,
)
from ivr.queues.leg_args import number, queue_entry
from ivr.queues.recording import (
    CALLBACK,
    INBOUND,
    announce_to_customer,
    callback_entry,
    notice_twiml,
    talking_entry,
)
from ivr.queues.recording import start as start_recording
from ivr.queues.recording import stop as stop_recording
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
    QUEUE_PLACES,
    WORD,
    call_facts,
    field,
    int_arg,
)
from ivr.twilio.rest import TwilioError, conference_sid
from ivr.twilio.signature import twilio_callback, twilio_webhook
from ivr.twilio.twiml import speak, twiml
from ivr.twilio.urls import external_url

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
bp = Blueprint("queue", __name__, url_prefix="/voice/queue")
bp.register_error_handler(Exception, apologise)

KEY = re.compile(r"[0-9*#]{0,8}")
EVENT_NAME = re.compile(r"[a-z-]{1,40}")
CONFERENCE_NAME = re.compile(r"[\w-]{1,128}")
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
    position = max(number("QueuePosition", 1, high=QUEUE_PLACES), 1)
    waited = number("QueueTime")
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
    waited = number("QueueTime")
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


@bp.post("/join")
@twilio_webhook
def join() -> Response:
    """The caller, moved out of the queue by the agent's answer: into the conversation."""
    entry = queue_entry()
    call = open_call(db.session, call_facts())
    step = int_arg("s", 1, low=1, high=10_000)
    if entry.call_sid == call.sid and entry.state == EntryState.DONE:
        # The agent's leg ended before the caller's move came (Twilio took long): they never
        # talked, and the caller is back in line with their place, not at the end of it.
        reopen(db.session, call, entry)
    if entry.call_sid != call.sid or entry.state != EntryState.BRIDGED:
        # Not (or no longer) this caller's conversation: back in line for the next agent.
        turn = flow_for(call, step).enter(entry.node)
        record_turn(db.session, call, step, turn)
        db.session.commit()
        distribute_now()
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
    entry = queue_entry()
    call = open_call(db.session, call_facts())
    step = int_arg("s", 1, low=1, high=10_000)
    flow = flow_for(call, step)
    if never_reached(db.session, entry) and room_never_started(current_app.config, call.sid):
        reopen(db.session, call, entry)
    if entry.state in (EntryState.WAITING, EntryState.OFFERED):
        # The agent left before reaching the room (during the whisper): back in line, where the
        # stay waits with its place.
        turn = flow.enter(entry.node)
        record_turn(db.session, call, step, turn)
        db.session.commit()
        return twiml(turn.response)
    stop_recording(db.session, entry)  # the rating is not recorded
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
    the whisper, or left before the caller came in) is put back in line with their place and
    moved out of the room to the queue: the caller's own requests say so, whatever order
    Twilio's other reports come in.
    """
    ident = whole_number(request.args.get("entry", ""))
    entry = None if ident is None else find(QueueEntry, ident)
    call = open_call(db.session, call_facts())
    if (
        entry is not None
        and entry.call_sid == call.sid
        and entry.state == EntryState.DONE
        and room_never_started(current_app.config, call.sid)
    ):
        reopen(db.session, call, entry)
        db.session.commit()
        distribute_now()
    if entry is not None and entry.call_sid == call.sid and entry.state == EntryState.WAITING:
        back_in_line(current_app.config, entry)
    return twiml(hold_music(hotline().menu))


def room_never_started(config: Any, call_sid: str) -> bool:
    """Whether the caller's room is still waiting for its agent, as Twilio sees it.

    The conference's start is reported on its own, and may come after the agent's leg ended
    and after a music request the caller sent before the agent came in: Twilio is asked before
    the caller is put back in line. Unreachable, it is taken as never started (the caller must
    not wait in an empty room).
    """
    try:
        return conference_sid(config, conference_name(call_sid), "init") is not None
    except TwilioError:
        log.warning("could not ask Twilio whether %s's room started", call_sid)
        return True


@bp.post("/notice")
@twilio_webhook
def notice() -> Response:
    """The recording notice, announced to a called-back customer as they join the room."""
    menu = hotline().menu
    lang = request.args.get("lang", "")
    return twiml(notice_twiml(menu, lang if lang in menu.languages else next(iter(menu.languages))))


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
        label = field("ParticipantLabel", pattern=LABEL)
        consulted = CONSULT.fullmatch(label)
        if event == "participant-join" and consulted:
            joined_consultation(db.session, caller, int(consulted[1]),
                                field("CallSid", pattern=CALL_SID, required=True))  # fmt: skip
        db.session.commit()
        if event == "conference-start":
            # The agent is in the room: the caller heard the notice as they entered the queue.
            start_recording(db.session, talking_entry(db.session, caller), direction=INBOUND)
        elif label == "caller" and (
            back := callback_entry(db.session, caller, field("CallSid", pattern=CALL_SID))
        ):
            announce_to_customer(current_app.config, back,
                                 field("ConferenceSid", pattern=CONFERENCE_SID))  # fmt: skip
    elif event == "announcement-end":
        # The called-back customer heard the notice: their conversation is recorded from now.
        back = callback_entry(db.session, caller, field("CallSid", pattern=CALL_SID))
        start_recording(db.session, back, direction=CALLBACK)
    elif (kind := HOLD_EVENTS.get(event)) is not None:
        held = field("CallSid", pattern=CALL_SID)
        call = db.session.scalar(select(Call).where(Call.sid == caller))
        talking = db.session.scalar(
            select(Agent.name)
            .join(QueueEntry, QueueEntry.agent_id == Agent.id)
            .where(QueueEntry.call_sid == caller, QueueEntry.agent_id.is_not(None))
            # The agent talking; else the one whose answer is still being noted (a hold can be
            # reported before the bridge that set the stay talking is committed).
            .order_by(
                (QueueEntry.state == EntryState.BRIDGED).desc(),
                func.coalesce(QueueEntry.bridged_at, QueueEntry.offered_at).desc(),
            )
            .limit(1)
        )
        if call is not None:
            # ``agent``: whose conversation it is (the figures add its hold time to them).
            log_event(db.session, call, kind, None, agent=talking,
                      party="caller" if held == caller else "agent", call_sid=held)  # fmt: skip
    db.session.commit()
    return Response(status=204)
