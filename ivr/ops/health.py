"""Health and readiness for load balancers and orchestrators (no secrets, no caller data).

The database is checked here; other packages add their facts through ``Hotline.readiness``
(voicemail: the transcription backlog and the speech models).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from ivr.database import db
from ivr.hotline import Readiness, hotline

bp = Blueprint("health", __name__)
WORST_LAST = (Readiness.READY, Readiness.DEGRADED, Readiness.UNREADY)


@bp.get("/healthz")
def healthz() -> Response:
    """The process answers."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when the database answers and every plugged-in check is content."""
    checks: dict[str, object] = {}
    found = [Readiness.READY]
    plugged = hotline().readiness
    try:
        db.session.execute(text("SELECT 1"))
        found += [check.facts(checks) for check in plugged if check.reads_database]
        checks["database"] = "ok"
    except Exception as exc:  # the point is to report it, whatever it is
        db.session.rollback()
        checks["database"] = f"error: {type(exc).__name__}"
        found.append(Readiness.UNREADY)
    found += [check.facts(checks) for check in plugged if not check.reads_database]
    status = max(found, key=WORST_LAST.index)
    return jsonify({"status": status, "checks": checks}), (
        503 if status == Readiness.UNREADY else 200
    )
