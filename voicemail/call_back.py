"""Calling a customer back from their message: the agent's phone rings first, then theirs.

Through Twilio (click-to-call), so the customer sees the hotline's number rather than the agent's
own, and the attempt and how it ended are written on the message for the next agent to read.
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import select
from twilio.twiml.voice_response import VoiceResponse

from ivr.audit import RECORDING_PAUSED, RECORDING_RESUMED, audit
from ivr.callflow.webhooks import apologise
from ivr.database import db, find
from ivr.hotline import hotline
from ivr.models import Agent, Call
from ivr.numbers import heard_number
from ivr.queues.agents import AgentError, agent_language
from ivr.queues.recording import topic_recorded
from ivr.text import whole_number
from ivr.twilio.fields import CALL_SID, WORD, field, twilio_number
from ivr.twilio.rest import TwilioError, create_call
from ivr.twilio.signature import twilio_callback, twilio_webhook
from ivr.twilio.twiml import speak, spell_digits, twiml
from ivr.twilio.urls import external_url, with_overrides
from voicemail.call_back_recording import for_call_back, live_call_back, pause_call_back
from voicemail.cases import audit_case_status, set_case_status
from voicemail.models import CaseStatus, Note, Voicemail
from voicemail.web.inbox import message_or_404

log = logging.getLogger(__name__)
bp = Blueprint("call_back", __name__)
voice_bp = Blueprint("message_call", __name__, url_prefix="/voice/message-call")
voice_bp.register_error_handler(Exception, apologise)

DIALLABLE = re.compile(r"\+?[0-9]{3,20}")
MISSED = {"no-answer", "busy", "failed", "canceled"}


def _caller_id(message: Voicemail) -> str:
    """The hotline's number: the configured caller ID, else the number the customer dialled."""
    configured = current_app.config.get("HOTLINE_CALLER_ID") or ""
    if configured:
        return str(configured)
    call = db.session.scalar(select(Call).where(Call.sid == message.call_sid))
    return call.to_number if call is not None and call.to_number else ""


def _note_once(
    message: Voicemail, agent: Agent | None, number: str, outcome: str, leg: str
) -> None:
    """Note how a leg to ``number`` went; Twilio's retry of the same callback writes nothing more."""
    body = f"☎ {number}: {outcome} ({leg[:34]})"
    taken = db.session.scalar(
        select(Note.id).where(Note.voicemail_id == message.id, Note.body == body).limit(1)
    )
    if taken is None:
        db.session.add(
            Note(voicemail_id=message.id, agent_id=agent.id if agent else None, body=body)
        )


def _leg() -> tuple[Voicemail, Agent | None]:
    """The message and the agent named in our own (signed) URL."""
    message_id = whole_number(request.args.get("message", ""), 11)
    agent_id = whole_number(request.args.get("agent", ""))
    if message_id is None:
        abort(404)
    agent = None if agent_id is None else find(Agent, agent_id)
    return message_or_404(message_id), agent


@bp.post("/inbox/<int:message_id>/call-back")
@login_required
def start(message_id: int) -> Response:
    """Ring the agent's phone; when they answer, Twilio dials the customer."""
    message = message_or_404(message_id)
    back = redirect(url_for("inbox.show", message_id=message.id))
    if not DIALLABLE.fullmatch(message.from_number or ""):
        flash(gettext("This caller's number is unknown: they cannot be called back."))
        return back
    if not current_user.phone:
        flash(gettext("Your account has no phone number to ring first."))
        return back
    leg = {"message": message.id, "agent": current_user.id}
    caller_id = _caller_id(message)
    try:
        create_call(
            current_app.config,
            to=current_user.phone,
            from_=caller_id or message.from_number,
            url=external_url("message_call.connect", **leg),
            status_callback=with_overrides(
                external_url("message_call.status", **leg), current_app.config
            ),
        )
    except TwilioError as exc:
        flash(gettext("Twilio could not place the call: %(error)s", error=str(exc)))
        return back
    if message.assigned_agent_id is None:
        message.assigned_agent_id = current_user.id
    if message.case_status == CaseStatus.RECEIVED:
        audit_case_status(message, CaseStatus.IN_PROGRESS, via="call-back")
        set_case_status(message, CaseStatus.IN_PROGRESS)
    db.session.commit()
    flash(gettext("Your phone rings now: answer it to be connected to the caller."))
    return back


@bp.post("/inbox/<int:message_id>/call-back/recording")
@login_required
def pause(message_id: int) -> Response:
    """Pause the call-back's recording (a card number, a password) or resume it."""
    message = message_or_404(message_id)
    back = redirect(url_for("inbox.show", message_id=message.id))
    row = live_call_back(db.session, message)
    if row is None:
        flash(gettext("No call-back of this message is being recorded now."))
        return back
    on = request.form.get("pause") == "1"
    try:
        at = pause_call_back(row, on=on)
    except (AgentError, TwilioError) as exc:
        log.info("call-back %s: recording not %s: %s", row.id, "paused" if on else "resumed", exc)
        flash(gettext("The recording could not be paused or resumed: the call may have ended."))
        return back
    audit(RECORDING_PAUSED if on else RECORDING_RESUMED, target=f"conversation:{row.id}",
          detail={"message": message.id, "at": round(at, 1)})  # fmt: skip
    db.session.commit()
    flash(gettext("Recording paused.") if on else gettext("Recording resumed."))
    return back


@voice_bp.post("/connect")
@twilio_webhook
def connect() -> Response:
    """The agent answered: say whom they call, then dial the customer from the hotline's number."""
    message, agent = _leg()
    menu, lang = hotline().menu, agent_language(agent)
    response = VoiceResponse()
    text = menu.phrase(
        "callback_whisper", lang,
        topic=menu.name_of(menu.topics, message.category, lang),
        number=spell_digits(heard_number(message.from_number, bool(agent and agent.may_see_numbers))),
    )  # fmt: skip
    speak(response, text, menu.languages[lang])
    leg = {"message": message.id, "agent": agent.id if agent else ""}
    recording = _recording(message, agent)
    dial = response.dial(
        action=external_url("message_call.dialed", **leg),
        method="POST",
        caller_id=_caller_id(message) or None,
        **recording,
    )
    # A recorded call-back: the customer hears the notice in their language before being put
    # through, and the recording starts as they are.
    notice = {"url": external_url("queue.notice", lang=message.language or ""), "method": "POST"}
    dial.number(message.from_number, **(notice if recording else {}))
    return twiml(response)


def _recording(message: Voicemail, agent: Agent | None) -> dict[str, str]:
    """``<Dial>``'s attributes that record the call-back (both sides apart), if its topic's
    queue records conversations; the row Twilio will report to is made first."""
    if not topic_recorded(hotline().menu, message.category):
        return {}
    row = for_call_back(
        db.session, message, agent, field("CallSid", pattern=CALL_SID, required=True)
    )
    db.session.commit()
    url = external_url("conversation_recording.recorded", rec=row.id)
    return {
        "record": "record-from-answer-dual",
        "recording_status_callback": with_overrides(url, current_app.config),
        "recording_status_callback_method": "POST",
        "recording_status_callback_event": "in-progress completed absent",
    }


@voice_bp.post("/dialed")
@twilio_webhook
def dialed() -> Response:
    """The customer's leg ended: note it, and a conversation answers the message."""
    message, agent = _leg()
    status = field("DialCallStatus", pattern=WORD, required=True)
    talk = twilio_number("DialCallDuration") or 0
    talked = status == "completed" and talk > 0
    _note_once(message, agent, message.from_number, f"{talk} s" if talked else status,
               field("DialCallSid"))  # fmt: skip
    if talked and message.case_status in (CaseStatus.RECEIVED, CaseStatus.IN_PROGRESS):
        # Twilio reports the conversation; the agent who called back answered the case.
        audit_case_status(message, CaseStatus.ANSWERED, via="call-back",
                          actor=f"agent:{agent.name}" if agent else "twilio")  # fmt: skip
        set_case_status(message, CaseStatus.ANSWERED)
    db.session.commit()
    response = VoiceResponse()
    response.hangup()
    return twiml(response)


@voice_bp.post("/status")
@twilio_callback
def status() -> Response:
    """The agent's own leg ended; if they never answered, say so on the message."""
    message, agent = _leg()
    state = field("CallStatus", pattern=WORD, required=True)
    if state in MISSED:
        _note_once(message, agent, agent.phone if agent else "?", state, field("CallSid"))
        db.session.commit()
    return Response(status=204)
