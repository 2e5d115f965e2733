"""Supervisors manage agents in the web app: disable, enable, reset a password, change skills."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from ivr.audit import AGENT_CREATE, AGENT_DISABLE, AGENT_ENABLE, AGENT_UPDATE, PASSWORD_RESET, audit
from ivr.clock import utcnow
from ivr.database import db, find
from ivr.hotline import hotline
from ivr.models import Agent, Role
from ivr.queues.agent_history import presences_now
from ivr.queues.agents import (
    AgentError,
    add_agent_from_page,
    disable_agent,
    enable_agent,
    menu_topics,
    profile_of,
    set_password,
    signed_out,
    update_profile,
)
from ivr.web.auth import supervisor_required
from ivr.web.confirm import confirm_first

bp = Blueprint("agents", __name__)
# In the session until the agents page shows it once: never in a flash, whose words the form
# key keeps in the database to show again on a reload.
NEW_PASSWORD = "new_agent_password"


def _page(status: int = 200, new: dict[str, object] | None = None) -> tuple[str, int]:
    menu = hotline().menu
    rows = db.session.scalars(select(Agent).order_by(Agent.name)).all()
    now = utcnow()
    return render_template("agents.html", agents=rows, languages=sorted(menu.languages),
                           topics=menu_topics(menu), now=now, roles=list(Role),
                           new=new or {}, created=session.pop(NEW_PASSWORD, None),
                           presence_of=presences_now(db.session, rows, now)), status  # fmt: skip


def _agent(agent_id: int) -> Agent:
    agent = find(Agent, agent_id)
    if agent is None:
        abort(404, "no such agent")
    return agent


def _refused(agent: Agent, exc: AgentError) -> tuple[str, int]:
    db.session.rollback()
    flash(gettext("%(name)s was not changed: %(reason)s", name=agent.name,
                  reason=exc.translated()))  # fmt: skip
    return _page(400)


@bp.get("/agents")
@supervisor_required
def index() -> tuple[str, int]:
    """Every agent with their state, and a form to change each."""
    return _page()


@bp.post("/agents/new")
@supervisor_required
def create() -> tuple[str, int] | Response:
    """A new agent account, with the password given or one made up and shown once."""
    form = request.form
    role = Role.SUPERVISOR if form.get("role") == Role.SUPERVISOR else Role.AGENT
    name = form.get("name", "").strip()[:64]
    display_name = form.get("display_name", "").strip()[:64]
    languages = [v[:16] for v in form.getlist("languages")]
    topics = [v[:64] for v in form.getlist("topics")]
    phone, given = form.get("phone", "").strip()[:64], form.get("password", "")[:256]
    try:
        agent, password = add_agent_from_page(
            db.session, hotline().menu, name=name, display_name=display_name, role=role,
            languages=languages, topics=topics, phone=phone, password=given,
        )  # fmt: skip
    except AgentError as exc:
        db.session.rollback()
        flash(gettext("The agent was not created: %(reason)s", reason=exc.translated()))
        kept = {"name": name, "display_name": display_name, "role": role,
                "languages": languages, "topics": topics, "phone": phone}  # fmt: skip
        return _page(400, new=kept)
    detail = {"role": agent.role, "display_name": agent.display_name, **profile_of(agent),
              "password_made_up": not given}  # fmt: skip
    audit(AGENT_CREATE, target=f"agent:{agent.name}", detail=detail)
    db.session.commit()
    flash(gettext("%(name)s is created; they start away.", name=agent.name))
    if not given:
        session[NEW_PASSWORD] = {"name": agent.name, "password": password}
    return redirect(url_for("agents.index", _anchor=f"agent-{agent.id}"))


def _disable_question(agent_id: int) -> str:
    agent = find(Agent, agent_id)
    return gettext("Disable %(name)s? They are signed out everywhere at once.",
                   name=agent.name if agent is not None else agent_id)  # fmt: skip


@bp.post("/agents/<int:agent_id>/disable")
@supervisor_required
@confirm_first(_disable_question, lambda: gettext("Disable"))
def disable(agent_id: int) -> tuple[str, int] | Response:
    """Switch an agent off at once: signed out everywhere, away, offered no caller."""
    agent = _agent(agent_id)
    if agent.id == current_user.id:
        return _refused(agent, AgentError("you cannot disable yourself"))
    disable_agent(agent)
    audit(AGENT_DISABLE, target=f"agent:{agent.name}")
    db.session.commit()
    flash(gettext("%(name)s is disabled and signed out everywhere.", name=agent.name))
    return redirect(url_for("agents.index"))


@bp.post("/agents/<int:agent_id>/enable")
@supervisor_required
def enable(agent_id: int) -> Response:
    """Let a disabled agent sign in again."""
    agent = _agent(agent_id)
    enable_agent(agent)
    audit(AGENT_ENABLE, target=f"agent:{agent.name}")
    db.session.commit()
    flash(gettext("%(name)s may sign in again.", name=agent.name))
    return redirect(url_for("agents.index"))


@bp.post("/agents/<int:agent_id>/password")
@supervisor_required
def reset_password(agent_id: int) -> tuple[str, int] | Response:
    """Give an agent a new password; their sessions end."""
    agent = _agent(agent_id)
    if agent.id == current_user.id:
        # Not without the current password: a borrowed session must not take the account.
        return _refused(agent, AgentError("change your own password on your settings page"))
    try:
        set_password(agent, request.form.get("password", "")[:256])
    except AgentError as exc:
        return _refused(agent, exc)
    signed_out(agent)
    audit(PASSWORD_RESET, target=f"agent:{agent.name}")
    db.session.commit()
    flash(gettext("%(name)s has a new password and was signed out.", name=agent.name))
    return redirect(url_for("agents.index"))


@bp.post("/agents/<int:agent_id>")
@supervisor_required
def update(agent_id: int) -> tuple[str, int] | Response:
    """Change an agent's display name, languages, topics and phone (checked as the CLI checks them)."""
    agent = _agent(agent_id)
    try:
        update_profile(
            agent,
            hotline().menu,
            languages=[v[:16] for v in request.form.getlist("languages")],
            topics=[v[:64] for v in request.form.getlist("topics")],
            phone=request.form.get("phone", "").strip()[:64],
        )
    except AgentError as exc:
        return _refused(agent, exc)
    detail = profile_of(agent)
    if "display_name" in request.form:
        agent.display_name = detail["display_name"] = request.form["display_name"].strip()[:64]
    sees = request.form.get("sees_numbers") == "1" and agent.role != Role.SUPERVISOR
    if sees != agent.sees_numbers:  # the right to see caller numbers whole, given or taken
        agent.sees_numbers = detail["sees_numbers"] = sees
    audit(AGENT_UPDATE, target=f"agent:{agent.name}", detail=detail)
    db.session.commit()
    flash(gettext("Saved %(name)s.", name=agent.name))
    return redirect(url_for("agents.index"))
