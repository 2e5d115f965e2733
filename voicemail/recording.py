"""Taking a message: the voicemail node's TwiML and Twilio's recording callbacks."""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from ivr.callflow.call_log import open_call, record_turn
from ivr.callflow.flow import Event, Flow, Turn
from ivr.callflow.menu import Node
from ivr.callflow.webhooks import apologise
from ivr.database import db
from ivr.hotline import hotline
from ivr.models import Call, Outcome
from ivr.twilio.fields import call_facts, field, int_arg, twilio_number
from ivr.twilio.signature import twilio_callback, twilio_webhook
from ivr.twilio.twiml import add_prompt, speak, spell_digits, twiml
from ivr.twilio.urls import external_url, with_overrides
from voicemail.cases import new_case_number
from voicemail.models import Voicemail

log = logging.getLogger(__name__)
bp = Blueprint("recording", __name__, url_prefix="/voice/voicemail")
bp.register_error_handler(Exception, apologise)

RECORDING_SID = re.compile(r"RE[0-9a-zA-Z]{32}")
RECORDING_URL = re.compile(r"https?://[^\s]{1,500}")
DIGITS = re.compile(r"[0-9*#]{0,32}|hangup")
CATEGORY = re.compile(r"[A-Za-z0-9_-]{1,64}")
DEFAULT_MAX_LENGTH = 120


def record_message(flow: Flow, node: Node, lang: str) -> None:
    """The voicemail node: prompt, beep, record; without a recording Twilio falls through."""
    voice = flow.menu.languages[lang]
    add_prompt(flow.response, node.prompt[lang], voice)
    # A general message left after choosing a topic belongs to that topic (the queue was busy).
    category = str(node.settings.get("category") or "general")
    if category == "general":
        category = flow.topic() or category
    flow.response.record(
        action=external_url(
            "recording.recorded", node=node.id, lang=lang, c=category, s=flow.next_step()
        ),
        method="POST",
        max_length=int(node.settings.get("max_length", DEFAULT_MAX_LENGTH)),
        finish_on_key=str(node.settings.get("finish_on_key", "#")),
        play_beep=True,
        trim="trim-silence",
        recording_status_callback=with_overrides(
            external_url("recording.status", node=node.id, lang=lang, c=category),
            current_app.config,
        ),
        recording_status_callback_method="POST",
        recording_status_callback_event="completed absent failed",
    )
    # Reached only when Twilio got no audio at all (an empty recording sends no action).
    flow.say("no_message")
    flow.say("goodbye")
    flow.response.hangup()


class RecordingConflict(ValueError):
    """A recording that is not this call's: its RecordingSid was stored for another call."""


def store_recording(
    session: Session,
    call: Call,
    *,
    recording_sid: str,
    recording_url: str,
    duration: int | None,
    category: str,
    language: str | None,
) -> tuple[Voicemail, bool]:
    """The message's row, committed as a pending job on first sight; (row, created now).

    A RecordingSid belongs to the call that made it: naming it for another call is refused
    (``RecordingConflict``), or that call's caller would hear the other caller's case number.
    """
    for _ in range(5):
        found = session.scalar(select(Voicemail).where(Voicemail.recording_sid == recording_sid))
        if found is not None:
            if found.call_sid != call.sid:
                raise RecordingConflict(f"recording {recording_sid} belongs to another call")
            return found, False
        message = Voicemail(
            call_id=call.id,
            call_sid=call.sid,
            case_number=new_case_number(),
            category=category,
            language=language,
            from_number=call.from_number,
            recording_sid=recording_sid,
            recording_url=recording_url,
            recording_duration=duration,
        )
        try:
            with session.begin_nested():
                session.add(message)
        except IntegrityError:
            continue  # a duplicate callback won the race, or the case number was taken
        if call.outcome in (None, Outcome.SELF_SERVICE, Outcome.ABANDONED):
            call.outcome = Outcome.VOICEMAIL
        return message, True
    raise RuntimeError(f"could not store recording {recording_sid}")


def _recording_from_request(call: Call) -> tuple[Voicemail, bool]:
    node = hotline().menu.nodes.get(request.args.get("node", ""))
    category = request.args.get("c", "")
    if not CATEGORY.fullmatch(category):
        category = str(node.settings.get("category", "general")) if node else "general"
    lang = request.args.get("lang") or call.language
    duration = twilio_number("RecordingDuration")
    sid = field("RecordingSid", pattern=RECORDING_SID, required=True)
    url = field("RecordingUrl", pattern=RECORDING_URL, required=True)
    try:
        return store_recording(
            db.session,
            call,
            recording_sid=sid,
            recording_url=url,
            duration=duration,
            category=category[:64],
            language=lang if lang in hotline().menu.languages else None,
        )
    except RecordingConflict as exc:
        log.warning("refused %s for %s: %s", request.path, call.sid, exc)
        abort(409, str(exc))


@bp.post("/recorded")
@twilio_webhook
def recorded() -> Response:
    """The Record action: keep the message, then tell the caller their case number."""
    call = open_call(db.session, call_facts())
    digits = field("Digits", pattern=DIGITS)
    step = int_arg("s", 1, low=1, high=10_000)
    message, _ = _recording_from_request(call)
    event = Event(
        "voicemail_recorded",
        request.args.get("node", "")[:64] or None,
        {
            "case_number": message.case_number,
            "recording_sid": message.recording_sid,
            "duration": message.recording_duration,
            "ended_by": digits or "timeout",
        },
    )
    record_turn(db.session, call, step, Turn(VoiceResponse(), [event], [], None, None))
    db.session.commit()
    response = VoiceResponse()
    if digits == "hangup":
        return twiml(response)  # the caller is gone; Twilio ignores this answer
    menu = hotline().menu
    lang = message.language or next(iter(menu.languages))
    voice = menu.languages[lang]
    case = spell_digits(message.case_number)
    minutes = str(menu.reply_promise_minutes)
    speak(response, menu.phrase("message_received", lang, case=case, minutes=minutes), voice)
    speak(response, menu.phrase("goodbye", lang), voice)
    response.hangup()
    return twiml(response)


@bp.post("/status")
@twilio_callback
def status() -> Response:
    """recordingStatusCallback: the audio is ready (or there is none)."""
    call = open_call(db.session, call_facts())
    state = field("RecordingStatus", pattern=re.compile(r"[a-z-]{1,20}"), required=True)
    if state == "completed":
        message, created = _recording_from_request(call)
        if created:
            log.info("recording %s arrived before its action", message.recording_sid)
    else:
        log.warning(
            "recording for %s ended %s (error %s)", call.sid, state, field("ErrorCode")[:16]
        )
    db.session.commit()
    return Response(status=204)
