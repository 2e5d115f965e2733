"""The wrap-up form: on the board after a conversation, on a call's page to edit it later."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, request, url_for
from flask_babel import get_locale, gettext
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from ivr.clock import utcnow
from ivr.database import db
from ivr.hotline import hotline
from ivr.models import Call, QueueEntry, Wrapup
from ivr.numbers import shown_number
from ivr.queues.agents import AgentError
from ivr.queues.distribution import distribute_now
from ivr.queues.wrapups import MAX_NOTE, save_wrapup, served, to_wrap_up, wrapups_by_call

bp = Blueprint("wrapup", __name__)


def _form(call: Call, entry: QueueEntry | None, row: Wrapup | None, back: str) -> dict[str, Any]:
    """What the form shows: the call, the menu's dispositions in the page's language, and the
    values saved before (if any)."""
    menu, language = hotline().menu, str(get_locale().language)
    until = current_user.wrapup_until
    return {
        "sid": call.sid,
        "caller": shown_number(call.from_number),
        "topic": entry.topic if entry else None,
        "dispositions": [
            (code, menu.name_of(menu.dispositions, code, language)) for code in menu.dispositions
        ],
        "disposition": row.disposition if row else "",
        "note": row.note if row else "",
        "saved": row is not None,
        "until": until if back == "board" and until is not None and until > utcnow() else None,
        "back": back,
        "max_note": MAX_NOTE,
    }


def pending_form() -> dict[str, Any] | None:
    """The board's form, for the signed-in agent's last conversation not yet wrapped up."""
    entry = to_wrap_up(db.session, current_user)
    call = db.session.get(Call, entry.call_id) if entry else None
    return _form(call, entry, None, "board") if call is not None else None


def call_form(call: Call) -> dict[str, Any] | None:
    """The form on a call's page, for an agent who talked to its caller."""
    if not served(db.session, call, current_user):
        return None
    row = db.session.scalar(
        select(Wrapup).where(Wrapup.call_id == call.id, Wrapup.agent_id == current_user.id)
    )
    return _form(call, None, row, "call")


def wrapups_of(call: Call) -> list[Wrapup]:
    """Every agent's wrap-up of the call, for its page."""
    return wrapups_by_call(db.session, [call.id]).get(call.id, [])


def disposition_name(code: str) -> str:
    """A disposition as the menu names it, in the page's language."""
    menu = hotline().menu
    return menu.name_of(menu.dispositions, code, str(get_locale().language)) if code else ""


@bp.app_context_processor
def template_helpers() -> dict[str, Any]:
    """The partial ``_wrapup.html`` and the call page draw with these."""
    return {
        "wrapup_pending": pending_form,
        "wrapup_for": call_form,
        "wrapups_of": wrapups_of,
        "disposition_name": disposition_name,
    }


@bp.get("/board/wrapup.json")
@login_required
def pending() -> Response:
    """The call the signed-in agent has to wrap up, if any: the board reloads to show its form."""
    entry = to_wrap_up(db.session, current_user)
    call = db.session.get(Call, entry.call_id) if entry else None
    return jsonify({"call": call.sid if call else None})


@bp.post("/calls/<sid>/wrapup")
@login_required
def save(sid: str) -> Response:
    """Save my wrap-up of the call; I am free for the next caller at once."""
    call = db.session.scalar(select(Call).where(Call.sid == sid[:64]))
    if call is None:
        abort(404)
    back = request.form.get("back")
    try:
        save_wrapup(db.session, call, current_user, hotline().menu,
                    disposition=request.form.get("disposition", ""),
                    note=request.form.get("note", ""))  # fmt: skip
    except AgentError as exc:
        db.session.rollback()
        flash(exc.translated())
    else:
        db.session.commit()
        distribute_now()
        flash(gettext("Wrap-up saved."))
    if back == "board":
        return redirect(url_for("board.board"))
    return redirect(url_for("board.call", sid=call.sid))
