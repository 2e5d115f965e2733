"""A call's recorded conversations on its page: the player, the turns that follow it, and the
audio (for signed-in agents only)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import login_required
from markupsafe import Markup
from sqlalchemy import or_, select
from werkzeug.wrappers import Response

from ivr.api.errors import ApiError
from ivr.audit import RECORDING_LISTEN, audit_recording
from ivr.callflow.orders import order_lookup
from ivr.database import db
from ivr.models import Call
from voicemail.api import audio_response
from voicemail.models import ConversationRecording, Voicemail
from voicemail.order_links import OrderFinder
from voicemail.web.inbox import order_page, order_status_name

bp = Blueprint("conversations", __name__, template_folder="templates", static_folder="static",
               static_url_path="/conversation-static")  # fmt: skip


def recordings_of(call: Call) -> list[ConversationRecording]:
    """The call's recorded conversations, in the order they were held."""
    return list(
        db.session.scalars(
            select(ConversationRecording)
            .where(
                or_(
                    ConversationRecording.call_id == call.id,
                    ConversationRecording.call_sid == call.sid,
                )
            )
            .order_by(ConversationRecording.started_at, ConversationRecording.id)
        )
    )


def timeline(recording: ConversationRecording) -> list[dict[str, object]]:
    """Turns and paused stretches in time order, as the page lists them."""
    items: list[dict[str, object]] = [
        {"kind": "turn", "index": i, "start": float(t["start"]), **t}
        for i, t in enumerate(recording.turns or [])
    ]
    items += [
        {"kind": "pause", "start": float(start), "end": float(end)}
        for start, end in recording.pauses or []
    ]
    return sorted(items, key=lambda item: (item["start"], item["kind"] == "turn"))


def conversations_section(call: Call) -> Markup:
    """The conversations part of a call's page (empty when none was recorded)."""
    return section(recordings_of(call))


def call_backs_section(message: Voicemail) -> Markup:
    """The recorded call-backs of a message, on its page."""
    return section(
        list(
            db.session.scalars(
                select(ConversationRecording)
                .where(ConversationRecording.voicemail_id == message.id)
                .order_by(ConversationRecording.started_at, ConversationRecording.id)
            )
        )
    )


def section(recordings: list[ConversationRecording]) -> Markup:
    """Recorded conversations, each with its player and turns (empty when there is none)."""
    if not recordings:
        return Markup("")
    finder = OrderFinder(order_lookup())  # one per page: a shop that is down is asked once
    return Markup(render_template(
        "_conversations.html", recordings=recordings, timeline=timeline,
        orders_in=finder.said_in, order_status_name=order_status_name, order_page=order_page,
    ))  # fmt: skip


@bp.app_context_processor
def plug_into_call_page() -> dict[str, object]:
    """Give the call page (ivr's template) the section it draws, without naming this package."""
    return {"call_sections": conversations_section, "call_backs_section": call_backs_section}


@bp.get("/calls/<sid>/conversations/<int:recording_id>/audio")
@login_required
def audio(sid: str, recording_id: int) -> Response:
    """A conversation's recording for the call page's player (Range requests let it seek)."""
    recording = db.session.get(ConversationRecording, recording_id)
    if recording is None or recording.call_sid != sid[:64]:
        abort(404)
    # Audited first: nothing that can fail comes between opening the file and serving it.
    audit_recording(RECORDING_LISTEN, recording_id, kind="conversation")
    try:
        return audio_response(recording)
    except ApiError as exc:
        abort(404, exc.message)
