"""Voice messages in the JSON API: list, one message, and its audio (with Range requests);
one search over messages and conversations."""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, send_file
from sqlalchemy import Select, select

from ivr.api.auth import token_required
from ivr.api.errors import ApiError, api_error
from ivr.api.paging import filter_choice, filter_dates, filter_exact, json_text, newest_first_page
from ivr.audit import RECORDING_DOWNLOAD, audit_recording
from ivr.callflow.orders import order_lookup
from ivr.clock import iso
from ivr.database import db, find
from ivr.models import Scope
from ivr.numbers import NumberError, mask
from voicemail.cases import audit_case_status, set_case_status
from voicemail.erasure import erase, preview
from voicemail.models import CaseStatus, ConversationRecording, Voicemail, VoicemailStatus
from voicemail.order_links import OrderFinder
from voicemail.search import conversations_holding, holding
from voicemail.storage import (
    CONVERSATIONS,
    DATABASE_PREFIX,
    MESSAGES,
    FileStore,
    StorageError,
    read_audio,
)

bp = Blueprint("voicemail_api", __name__, url_prefix="/api/v1")
bp.register_error_handler(Exception, api_error)

MIMETYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "ogg": "audio/ogg"}


def voicemail_json(message: Voicemail, orders: OrderFinder | None = None) -> dict[str, Any]:
    """A voice message as the API shows it; ``orders`` looks up the orders said in it."""
    finder = orders or OrderFinder(order_lookup())
    return {
        "id": message.id,
        "call_sid": message.call_sid,
        "case_number": message.case_number,
        "case_status": message.case_status,
        "category": message.category,
        "language": message.language,
        "from": message.from_number,
        "duration": message.duration
        if message.duration is not None
        else message.recording_duration,
        "status": message.status,
        "status_reason": message.status_reason or None,
        "transcript": message.transcript,
        "words": message.words or [],
        "orders": [order.as_json() for order in finder.said_in(message.transcript)],
        "model": message.model,
        "transcription_seconds": message.transcription_seconds,
        "created_at": iso(message.created_at),
        "transcribed_at": iso(message.transcribed_at),
        "audio_url": f"/api/v1/voicemails/{message.id}/audio" if message.audio_path else None,
    }


def filter_voicemails(query: Select[Any]) -> Select[Any]:
    """Apply the list filters: since, until, status, case_status, category, language, number."""
    query = filter_dates(query, Voicemail.created_at)
    query = filter_choice(query, "status", Voicemail.status, VoicemailStatus)
    query = filter_choice(query, "case_status", Voicemail.case_status, CaseStatus)
    columns = {
        "category": Voicemail.category,
        "language": Voicemail.language,
        "number": Voicemail.from_number,
        "case_number": Voicemail.case_number,
    }
    return filter_exact(query, columns)


@bp.get("/voicemails")
@token_required(Scope.READ)
def list_voicemails() -> Response:
    """Voice messages, newest first, a page at a time."""
    query = filter_voicemails(select(Voicemail))
    page, next_cursor = newest_first_page(query, Voicemail.created_at, Voicemail.id)
    orders = OrderFinder(order_lookup())
    data = [voicemail_json(m, orders) for m in page]
    return jsonify({"data": data, "next_cursor": next_cursor})


def _message(message_id: int) -> Voicemail:
    message = find(Voicemail, message_id)
    if message is None:
        raise ApiError(404, f"no voicemail {message_id}")
    return message


@bp.get("/voicemails/<int:message_id>")
@token_required(Scope.READ)
def get_voicemail(message_id: int) -> Response:
    """One voice message with its transcript and words."""
    return jsonify(voicemail_json(_message(message_id)))


@bp.patch("/voicemails/<int:message_id>")
@token_required(Scope.WRITE)
def update_voicemail(message_id: int) -> Response:
    """Move a case on: ``{"case_status": "answered"}`` (the caller hears it by phone)."""
    message = _message(message_id)
    value = json_text("case_status")
    if value not in {status.value for status in CaseStatus}:
        raise ApiError(400, "case_status must be one of " + ", ".join(s.value for s in CaseStatus))
    audit_case_status(message, CaseStatus(value), via="api")
    set_case_status(message, CaseStatus(value))
    db.session.commit()
    return jsonify(voicemail_json(message))


@bp.post("/callers/erase")
@token_required(Scope.ERASE)
def erase_caller() -> Response:
    """Erase everything about ``{"number": …}`` (``"dry_run": true`` only counts it)."""
    number = json_text("number")
    if not number:
        raise ApiError(400, 'send {"number": "+8613800138000"} as JSON')
    body = request.get_json(silent=True)
    dry_run = body.get("dry_run", False) if isinstance(body, dict) else False
    if not isinstance(dry_run, bool):
        raise ApiError(400, "dry_run must be true or false")
    try:
        counts = preview(db.session, number)
        if not counts:
            raise ApiError(404, f"nothing is kept about {mask(number)}")
        if not dry_run:
            counts = erase(db.session, current_app.config, number)
    except NumberError as exc:
        raise ApiError(400, str(exc)) from None
    return jsonify({"number": mask(number), "erased": not dry_run, "counts": counts})


def audio_response(message: Voicemail | ConversationRecording) -> Response:
    """The original recording (a message's or a conversation's) as received; Range requests let
    players seek. 404 if not kept."""
    if not message.audio_path:
        raise ApiError(404, "the audio has not been fetched from Twilio yet")
    config = current_app.config
    conversation = isinstance(message, ConversationRecording)
    mimetype = MIMETYPES.get(message.audio_format or "", "application/octet-stream")
    try:
        if message.audio_path.startswith(DATABASE_PREFIX):
            data = io.BytesIO(read_audio(config, message.audio_path, conversations=conversation))
            etag = ("conversation-" if conversation else "") + message.audio_path
            response = send_file(data, mimetype=mimetype, conditional=True, max_age=0, etag=etag)
        else:
            folder = CONVERSATIONS if conversation else MESSAGES
            path = FileStore(config["HOTLINE_DATA_DIR"], folder).path(message.audio_path)
            if not path.is_file():
                raise ApiError(404, "the audio file is missing from storage")
            response = send_file(path, mimetype=mimetype, conditional=True, max_age=0)
    except StorageError as exc:
        raise ApiError(404, str(exc)) from None
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/voicemails/<int:message_id>/audio")
@token_required(Scope.READ)
def voicemail_audio(message_id: int) -> Response:
    """The original recording (HTTP Range supported)."""
    message = _message(message_id)
    # Audited first: nothing that can fail comes between opening the file and serving it.
    audit_recording(RECORDING_DOWNLOAD, message_id)
    return audio_response(message)


SEARCH_LIMIT = 50


@bp.get("/search")
@token_required(Scope.READ)
def search() -> Response:
    """Messages and conversations holding every word of ``q``, newest first, each saying its
    kind; a conversation names the turn that holds the words."""
    words = request.args.get("q", "").strip()[:100]
    if not words:
        raise ApiError(400, "q: the words to find are missing")
    found: list[dict[str, Any]] = []
    holds = holding(db.session, words)
    if holds is not None:
        messages = db.session.scalars(
            select(Voicemail)
            .where(holds)
            .order_by(Voicemail.created_at.desc(), Voicemail.id.desc())
            .limit(SEARCH_LIMIT)
        ).all()
        found += [{"kind": "message", **voicemail_json(m)} for m in messages]
    for recording, turn in conversations_holding(db.session, words, SEARCH_LIMIT):
        found.append(
            {
                "kind": "conversation",
                **conversation_json(recording),
                "turn": turn,
                "call_url": f"/calls/{recording.call_sid}"
                + (
                    f"#turn-{recording.id}-{turn}"
                    if turn is not None
                    else f"#conversation-{recording.id}"
                ),
            }
        )
    return jsonify({"data": found})


def conversation_json(recording: ConversationRecording) -> dict[str, Any]:
    """A recorded conversation as the API shows it."""
    return {
        "id": recording.id,
        "call_sid": recording.call_sid,
        "agent_id": recording.agent_id,
        "direction": recording.direction,
        "queue": recording.queue,
        "language": recording.language,
        "from": recording.from_number,
        "started_at": iso(recording.started_at),
        "duration": recording.duration
        if recording.duration is not None
        else recording.recording_duration,
        "status": recording.status,
        "status_reason": recording.status_reason or None,
        "transcript": recording.transcript,
        "turns": recording.turns or [],
        "pauses": recording.pauses or [],
        "model": recording.model,
        "transcribed_at": iso(recording.transcribed_at),
    }
