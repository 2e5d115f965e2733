"""Recording conversations with agents: the ``Hotline.recorder`` the queues call, and Twilio's
report that a recording is complete (then the worker fetches and transcribes it as a job).

The customer's leg is recorded in two channels (what they say, what they hear: the agent), one
recording per stay in a queue (a call-back from the inbox: ``call_back_recording``). The row is
written before Twilio is asked, so a report can never come for a recording we do not know;
Twilio refusing marks it failed, and the call goes on.
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ivr.clock import utcnow
from ivr.database import db
from ivr.hotline import Recorder
from ivr.models import QueueEntry
from ivr.queues.agents import AgentError
from ivr.text import whole_number
from ivr.twilio.fields import field, twilio_number
from ivr.twilio.rest import (
    RECORDING_SID,
    TwilioError,
    start_call_recording,
    update_call_recording,
)
from ivr.twilio.signature import twilio_callback
from ivr.twilio.urls import external_url, with_overrides
from voicemail.models import ConversationRecording, VoicemailStatus
from voicemail.recording_pauses import close_pause, seconds_in

log = logging.getLogger(__name__)
bp = Blueprint("conversation_recording", __name__, url_prefix="/voice/conversation")

RECORDING_URL = re.compile(r"https?://[^\s]{1,500}")
STATE = re.compile(r"[a-z-]{1,20}")
ENDED = {"absent", "failed"}


def _live(session: Session, entry: QueueEntry) -> ConversationRecording | None:
    """``entry``'s recording that goes on now (Twilio took it), if any."""
    return session.scalar(
        select(ConversationRecording)
        .where(
            ConversationRecording.entry_id == entry.id,
            ConversationRecording.status == VoicemailStatus.RECORDING,
            ConversationRecording.recording_sid.is_not(None),
        )
        .order_by(ConversationRecording.id.desc())
        .limit(1)
    )


class TwilioRecorder(Recorder):
    """Records through Twilio's Call Recordings resource."""

    def start(self, session: Session, entry: QueueEntry, *, direction: str) -> None:
        # The stay's row is locked: replayed or concurrent reports make one recording at most.
        session.execute(select(QueueEntry.id).where(QueueEntry.id == entry.id).with_for_update())
        taken = select(ConversationRecording.id).where(ConversationRecording.entry_id == entry.id)
        if session.scalar(taken.limit(1)) is not None:
            session.commit()
            return
        row = ConversationRecording(
            call_id=entry.call_id, call_sid=entry.caller_leg or entry.call_sid,
            entry_id=entry.id, agent_id=entry.agent_id, direction=direction,
            queue=entry.queue, language=entry.language, from_number=entry.from_number,
            status=VoicemailStatus.RECORDING,
        )  # fmt: skip
        session.add(row)
        session.commit()
        config = current_app.config
        url = with_overrides(external_url("conversation_recording.recorded", rec=row.id), config)
        try:
            sid = start_call_recording(config, row.call_sid, status_callback=url)
        except TwilioError as exc:
            log.warning("Twilio did not record the conversation of entry %s: %s", entry.id, exc)
            row.status = VoicemailStatus.FAILED
            row.status_reason = f"Twilio did not start the recording: {exc}"[:500]
            session.commit()
            return
        row.recording_sid = sid
        row.started_at = utcnow()
        session.commit()

    def stop(self, session: Session, entry: QueueEntry) -> None:
        row = _live(session, entry)
        if row is None:
            return
        close_pause(row, seconds_in(row))
        session.commit()
        try:
            update_call_recording(current_app.config, row.call_sid, row.recording_sid, "stopped")
        except TwilioError as exc:  # the leg or the recording ended already
            log.info("recording %s not stopped: %s", row.recording_sid, exc)

    def pause(self, session: Session, entry: QueueEntry, *, on: bool) -> float | None:
        row = _live(session, entry)
        if row is None:
            return None
        if on == (row.paused_at is not None):
            raise AgentError(
                "the recording is already paused" if on else "the recording is not paused"
            )
        update_call_recording(current_app.config, row.call_sid, row.recording_sid,
                              "paused" if on else "in-progress")  # fmt: skip
        at = seconds_in(row)
        if on:
            row.paused_at = utcnow()
        else:
            close_pause(row, at)
        return at


@bp.post("/recorded")
@twilio_callback
def recorded() -> Response:
    """Twilio's recordingStatusCallback: a complete recording becomes a job, once."""
    ident = whole_number(request.args.get("rec", ""))
    row = None if ident is None else db.session.get(ConversationRecording, ident)
    if row is None:
        abort(404)
    state = field("RecordingStatus", pattern=STATE, required=True)
    sid = field("RecordingSid", pattern=RECORDING_SID, required=True)
    if row.recording_sid not in (None, sid):
        abort(409, "this recording belongs to another conversation")
    if state == "completed":
        url = field("RecordingUrl", pattern=RECORDING_URL, required=True)
        duration = twilio_number("RecordingDuration")
        channels = twilio_number("RecordingChannels") or row.channels
        if row.paused_at is not None:  # the call ended while paused
            close_pause(row, float(duration or seconds_in(row)))
        # Only a recording still going on becomes a job: replays change nothing.
        db.session.execute(
            update(ConversationRecording)
            .where(ConversationRecording.id == row.id,
                   ConversationRecording.status == VoicemailStatus.RECORDING)
            .values(status=VoicemailStatus.PENDING, recording_sid=sid, recording_url=url,
                    recording_duration=duration, channels=min(max(channels, 1), 2),
                    next_attempt_at=utcnow(), pauses=row.pauses, paused_at=None)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
    elif state in ENDED:
        reason = f"Twilio reported the recording {state} (error {field('ErrorCode')[:16] or '-'})"
        log.warning("conversation recording %s: %s", row.id, reason)
        db.session.execute(
            update(ConversationRecording)
            .where(ConversationRecording.id == row.id,
                   ConversationRecording.status == VoicemailStatus.RECORDING)
            .values(status=VoicemailStatus.FAILED, status_reason=reason, recording_sid=sid)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
    elif state != "in-progress":
        abort(400, "RecordingStatus must be in-progress, completed, absent or failed")
    elif row.recording_sid is None and row.status == VoicemailStatus.RECORDING:
        # A <Dial record> starts when the customer is connected: times count from now.
        row.recording_sid, row.started_at = sid, utcnow()
    db.session.commit()
    return Response(status=204)
