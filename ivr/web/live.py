"""The supervisors' live page: every agent and waiting caller, refreshed about once a second,
and the actions on them (monitor, whisper, barge, move a caller, set a presence).

``voice_bp`` takes the status callback of a supervisor's phone leg.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from ivr.callflow.call_log import TERMINAL
from ivr.callflow.webhooks import apologise
from ivr.clock import utcnow
from ivr.database import db, find
from ivr.hotline import hotline
from ivr.models import Agent, Call, Presence, QueueEntry
from ivr.queues.agents import AgentError
from ivr.queues.distribution import distribute_now
from ivr.queues.supervision import (
    MODES,
    live_agents,
    live_waiting,
    move_caller,
    queue_nodes,
    set_agent_presence,
    supervise,
    supervisor_left,
)
from ivr.text import whole_number
from ivr.twilio.fields import CALL_SID, WORD, field
from ivr.twilio.signature import twilio_callback
from ivr.twilio.urls import external_url
from ivr.web.auth import supervisor_required
from ivr.web.i18n import topic_name
from ivr.web.labels import label, language_name, queue_label

bp = Blueprint("live", __name__)
voice_bp = Blueprint("supervise", __name__, url_prefix="/voice/supervisor")
voice_bp.register_error_handler(Exception, apologise)
REFRESH_MS = 1000


def _now() -> dict[str, Any]:
    """The live figures, with the words the page shows for their values."""
    now = utcnow()
    agents = live_agents(db.session, now)
    for row in agents:
        row["presence_label"] = str(label("presence", row["presence"]))
        if row["call"]:
            call = row["call"]
            call["state_label"] = str(label("live_call", call["state"]))
            call["queue_label"] = queue_label(call["queue"])
            for on in call["supervisors"]:
                on["mode_label"] = str(label("mode", on["mode"]))
    waiting = live_waiting(db.session, now)
    for row in waiting:
        row["state_label"] = str(label("entry_state", row["state"]))
        row["topic_name"] = topic_name(row["topic"])
        row["queue_label"] = queue_label(row["queue"])
        row["language_name"] = language_name(row["language"])
    return {"agents": agents, "waiting": waiting, "me": current_user.name}


@bp.get("/live")
@supervisor_required
def page() -> str:
    """Every agent and every waiting caller, now."""
    nodes = queue_nodes(hotline().menu)
    # What the page's script needs to draw rows as this page does, in the reader's language.
    choices = {
        "presences": [[p.value, str(label("presence", p.value))] for p in Presence],
        "modes": [[m, str(label("mode", m))] for m in MODES],
        "nodes": [[node, topic_name(topic)] for node, topic in nodes],
        "move": gettext("Move"),
        "wrapup": gettext("wrap-up %(n)s s", n="{n}"),
        "nobody": gettext("Nobody is waiting."),
    }
    return render_template("live.html", live=_now(), presences=list(Presence), modes=MODES,
                           nodes=nodes, choices=choices, refresh_ms=REFRESH_MS)  # fmt: skip


@bp.get("/live.json")
@supervisor_required
def figures() -> BaseResponse:
    """The live page's figures, for it to refresh itself (one short read, no push)."""
    return jsonify(_now())


def _entry(entry_id: int) -> QueueEntry:
    entry = find(QueueEntry, entry_id)
    if entry is None:
        abort(404, "no such queue entry")
    return entry


def _back(message: str) -> BaseResponse:
    flash(message)
    return redirect(url_for("live.page"))


@bp.post("/live/calls/<int:entry_id>/supervise")
@supervisor_required
def join(entry_id: int) -> BaseResponse:
    """Listen to, whisper to or join a conversation (or switch to that mode)."""
    mode = request.form.get("mode", "")
    try:
        done = supervise(db.session, current_app.config, current_user, _entry(entry_id), mode,
                         external_url)  # fmt: skip
    except AgentError as exc:
        db.session.rollback()
        return _back(gettext("Not done: %(reason)s", reason=exc.translated()))
    if done == "joined":
        return _back(gettext("Your phone rings now: answer it to %(mode)s.",
                             mode=label("mode", mode)))  # fmt: skip
    return _back(gettext("You %(mode)s now.", mode=label("mode", mode)))


@bp.post("/live/waiting/<int:entry_id>/move")
@supervisor_required
def move(entry_id: int) -> BaseResponse:
    """Move a waiting caller to another queue."""
    entry = _entry(entry_id)
    try:
        queue = move_caller(db.session, current_app.config, hotline().menu, current_user, entry,
                            request.form.get("node", ""), external_url)  # fmt: skip
    except AgentError as exc:
        db.session.rollback()
        return _back(gettext("Not moved: %(reason)s", reason=exc.translated()))
    return _back(gettext("%(caller)s is moved to %(queue)s.", caller=entry.from_number,
                         queue=queue_label(queue)))  # fmt: skip


@bp.post("/live/agents/<int:agent_id>/presence")
@supervisor_required
def presence(agent_id: int) -> BaseResponse:
    """Set an agent's presence."""
    agent = find(Agent, agent_id)
    if agent is None:
        abort(404, "no such agent")
    value = request.form.get("presence", "")
    if value not in {p.value for p in Presence}:
        abort(400, "presence must be available, busy or away")
    try:
        set_agent_presence(db.session, current_user, agent, Presence(value))
    except AgentError as exc:
        db.session.rollback()
        return _back(gettext("Not done: %(reason)s", reason=exc.translated()))
    distribute_now()
    return _back(gettext("%(name)s is %(presence)s now.", name=agent.name,
                         presence=label("presence", value)))  # fmt: skip


@voice_bp.post("/status", endpoint="leg_status")
@twilio_callback
def leg_status() -> Response:
    """Status of a supervisor's phone leg: a final one notes in the call that they left."""
    status = field("CallStatus", pattern=WORD, required=True)
    leg = field("CallSid", pattern=CALL_SID, required=True)
    sid = request.args.get("call", "")[:64]
    call = db.session.scalar(select(Call).where(Call.sid == sid))
    if call is None:
        abort(404, "no such call")
    ident = whole_number(request.args.get("supervisor", ""))
    supervisor = None if ident is None else find(Agent, ident)
    if status in TERMINAL:
        supervisor_left(db.session, call, supervisor, leg, status)
    return Response(status=204)
