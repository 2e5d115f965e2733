"""A call-back from the inbox, recorded: a ``<Dial>`` from the agent's phone that Twilio records
from when the customer, having heard the notice, is put through (the agent on channel 1, the
customer on 2). Twilio's reports come to ``conversation_recording.recorded`` like any other."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.clock import utcnow
from ivr.models import Agent, Call
from ivr.queues.agents import AgentError
from ivr.twilio.rest import update_call_recording
from voicemail.models import ConversationRecording, Voicemail, VoicemailStatus
from voicemail.recording_pauses import close_pause, seconds_in


def for_call_back(
    session: Session, message: Voicemail, agent: Agent | None, leg: str
) -> ConversationRecording:
    """The recording of the call-back on the agent's leg ``leg`` (made once, however often
    Twilio asks for the leg's TwiML)."""
    row = session.scalar(
        select(ConversationRecording).where(
            ConversationRecording.call_sid == leg, ConversationRecording.voicemail_id == message.id
        )
    )
    if row is None:
        call_id = session.scalar(select(Call.id).where(Call.sid == message.call_sid))
        row = ConversationRecording(
            call_id=call_id, call_sid=leg, voicemail_id=message.id,
            agent_id=agent.id if agent else None, direction="callback", queue=message.category,
            language=message.language, from_number=message.from_number, customer_channel=2,
            status=VoicemailStatus.RECORDING,
        )  # fmt: skip
        session.add(row)
        session.flush()
    return row


def live_call_back(session: Session, message: Voicemail) -> ConversationRecording | None:
    """The message's call-back that Twilio records now, if any."""
    return session.scalar(
        select(ConversationRecording)
        .where(
            ConversationRecording.voicemail_id == message.id,
            ConversationRecording.status == VoicemailStatus.RECORDING,
            ConversationRecording.recording_sid.is_not(None),
        )
        .order_by(ConversationRecording.id.desc())
        .limit(1)
    )


def pause_call_back(row: ConversationRecording, *, on: bool) -> float:
    """Pause or resume a call-back's recording; the seconds into it (marked on the page)."""
    if on == (row.paused_at is not None):
        raise AgentError("the recording is already paused" if on else "the recording is not paused")
    update_call_recording(current_app.config, row.call_sid, row.recording_sid,
                          "paused" if on else "in-progress")  # fmt: skip
    at = seconds_in(row)
    if on:
        row.paused_at = utcnow()
    else:
        close_pause(row, at)
    return at
