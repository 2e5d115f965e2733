"""The supervisors' figures per agent and per queue for a period, and their CSVs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template
from werkzeug.wrappers import Response

from ivr.clock import utcnow
from ivr.database import db
from ivr.queues.performance import performance
from ivr.web.auth import supervisor_required
from ivr.web.exports import csv_response
from ivr.web.figure_charts import agent_charts
from ivr.web.periods import period

bp = Blueprint("performance", __name__)

AGENT_COLUMNS = ["agent", "offered", "answered", "missed", "withdrawn", "average_answer", "talk",
                 "average_talk", "hold", "holds", "wrapup", "average_wrapup", "transfers",
                 "average_rating", "ratings"]  # fmt: skip
QUEUE_COLUMNS = ["queue", "callers", "answered", "offered", "missed", "average_answer", "talk",
                 "average_talk", "hold", "holds", "wrapup", "average_wrapup", "transfers",
                 "average_rating", "ratings", "abandoned", "abandonment",
                 "service_level"]  # fmt: skip


def _figures() -> tuple[Any, dict[str, Any]]:
    chosen = period()
    target = float(current_app.config["HOTLINE_ANSWER_TARGET"])
    return chosen, performance(db.session, chosen.since, chosen.until, target, utcnow())


@bp.get("/figures/agents")
@supervisor_required
def index() -> str:
    """Each agent's and each queue's figures for the chosen days."""
    chosen, figures = _figures()
    target = int(float(current_app.config["HOTLINE_ANSWER_TARGET"]))
    return render_template("performance.html", period=chosen, figures=figures, target=target,
                           charts=agent_charts(figures["agents"]))  # fmt: skip


@bp.get("/export/agents.csv")
@supervisor_required
def export_agents() -> Response:
    """The figures per agent as CSV (times in seconds)."""
    _, figures = _figures()
    rows = [[row[c] for c in AGENT_COLUMNS] for row in figures["agents"]]
    return csv_response("agents.csv", AGENT_COLUMNS, rows)


@bp.get("/export/queues.csv")
@supervisor_required
def export_queues() -> Response:
    """The figures per queue as CSV (times in seconds, shares from 0 to 1)."""
    _, figures = _figures()
    rows = [[row[c] for c in QUEUE_COLUMNS] for row in figures["queues"]]
    return csv_response("queues.csv", QUEUE_COLUMNS, rows)
