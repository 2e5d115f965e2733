"""Voice messages in the JSON API: list, one message, and its audio (with Range requests)."""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, send_file
from sqlalchemy import Select, select

from ivr.api.auth import token_required
from ivr.api.errors import ApiError, api_error
from ivr.api.paging import filter_choice, filter_dates, filter_exact, json_text, newest_first_page
from ivr.audit import RECORDING_DOWNLOAD, audit_recording
from ivr.callflow.webhooks import order_lookup
from ivr.clock import iso
from ivr.database import db, find
from ivr.models import Scope
from voicemail.cases import audit_case_status, set_case_status
from voicemail.models import CaseStatus, Voicemail, VoicemailStatus
from voicemail.order_links import OrderFinder
from voicemail.storage import DATABASE_PREFIX, FileStore, StorageError, read_audio

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


def audio_response(message: Voicemail) -> Response:
    """The original recording as received; Range requests let players seek. 404 if not kept."""
    if not message.audio_path:
        raise ApiError(404, "the audio has not been fetched from Twilio yet")
    config = current_app.config
    mimetype = MIMETYPES.get(message.audio_format or "", "application/octet-stream")
    try:
        if message.audio_path.startswith(DATABASE_PREFIX):
            data = io.BytesIO(read_audio(config, message.audio_path))
            response = send_file(
                data, mimetype=mimetype, conditional=True, max_age=0, etag=message.audio_path
            )
        else:
            path = FileStore(config["HOTLINE_DATA_DIR"]).path(message.audio_path)
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
    response = audio_response(_message(message_id))
    audit_recording(RECORDING_DOWNLOAD, message_id)
    return response
