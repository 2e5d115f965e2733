"""The wallboard: a large screen's view of the queues now and of today, refreshing itself."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from ivr.callflow.menu import Menu
from ivr.clock import utcnow
from ivr.database import db
from ivr.hotline import hotline
from ivr.models import Agent, Presence
from ivr.queues.agent_history import presences_now
from ivr.queues.stats import period_stats, queues_now
from ivr.web.labels import queue_label
from ivr.web.periods import period

bp = Blueprint("wallboard", __name__)
# Seconds between refreshes: the JSON by the page's script, the page itself without script.
EVERY, WITHOUT_SCRIPT = 5, 30


def wallboard_figures(
    session: Session, menu: Menu, now: datetime, since: datetime, until: datetime, target: float
) -> dict[str, Any]:
    """Callers waiting per queue and the longest wait, agents by presence, and today's totals."""
    queues = queues_now(session, menu, now)
    agents = list(session.scalars(select(Agent).where(Agent.disabled_at.is_(None))))
    presence = Counter(p.presence for p in presences_now(session, agents, now).values())
    today = period_stats(session, since, until, target)["total"]
    return {
        "queues": [
            {
                "queue": q["queue"],
                "name": queue_label(q["queue"]),
                "waiting": q["waiting"],
                "longest_wait": q["longest_wait"],
                "callbacks_waiting": q["callbacks_waiting"],
            }
            for q in queues
        ],
        "waiting": sum(q["waiting"] for q in queues),
        "longest_wait": max((q["longest_wait"] for q in queues), default=0),
        "agents": {str(p): presence[p] for p in Presence},
        "answered": today["answered"],
        "abandoned": today["abandoned"],
        "service_level": today["service_level"],
        "target": target,
    }


def _figures() -> dict[str, Any]:
    today = period()  # the reader's today (or the ?from= day, as on the figures page)
    target = float(current_app.config["HOTLINE_ANSWER_TARGET"])
    return wallboard_figures(db.session, hotline().menu, utcnow(), today.since, today.until,
                             target)  # fmt: skip


@bp.get("/wallboard")
@login_required
def index() -> str:
    """Large figures and nothing to click, for a screen on the wall."""
    return render_template("wallboard.html", board=_figures(), every=EVERY,
                           without_script=WITHOUT_SCRIPT)  # fmt: skip


@bp.get("/wallboard.json")
@login_required
def figures() -> Response:
    """The wallboard's figures, for the page to refresh itself."""
    reply = jsonify(_figures())
    reply.headers["Cache-Control"] = "no-store"
    return reply
