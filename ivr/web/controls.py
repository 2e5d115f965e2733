"""The agent's controls on their live conversation, from the board: a thin view over
``ivr.queues.controls``."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from ivr.database import db
from ivr.queues.agents import AgentError
from ivr.queues.controls import CONTROLS, act
from ivr.twilio.rest import TwilioError
from ivr.web.labels import label

bp = Blueprint("controls", __name__)


@bp.post("/board/call/<action>")
@login_required
def act_on_call(action: str) -> Response:
    """Hold, mute, hang up, transfer, consult, hand over or add a number; back to the board."""
    if action not in CONTROLS:
        abort(404)
    kind, _, target = request.form.get("target", "").partition(":")
    values = {"queue": target if kind == "queue" else None,
              "agent": target if kind == "agent" else None,
              "number": request.form.get("number", "").strip() or None}  # fmt: skip
    try:
        act(current_user, action, **values)
    except AgentError as exc:
        db.session.rollback()
        flash(gettext("Not done: %(reason)s", reason=exc.translated()))
    except TwilioError:
        db.session.rollback()
        flash(gettext("Not done: Twilio did not accept the change. Try again."))
    else:
        flash(gettext("Done: %(action)s.", action=label("control", action)))
    return redirect(url_for("board.board"))
