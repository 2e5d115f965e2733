"""Health and readiness for load balancers and orchestrators (no secrets, no caller data)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import func, select, text

from ivr.clock import utcnow
from ivr.database import db
from ivr.hotline import menu_languages
from voicemail.models import Voicemail, VoicemailStatus

bp = Blueprint("health", __name__)
LAG_LIMIT = 600.0  # seconds the oldest due message may wait before the service reports unready


def transcription_lag() -> float:
    """Seconds the oldest due message has waited for a worker (0 when none waits)."""
    oldest = db.session.scalar(
        select(func.min(Voicemail.next_attempt_at)).where(
            Voicemail.status == VoicemailStatus.PENDING
        )
    )
    return max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0


@bp.get("/healthz")
def healthz() -> Response:
    """The process answers."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when the database answers and transcription keeps up (worker lag, models)."""
    checks: dict[str, object] = {}
    ready = True
    try:
        db.session.execute(text("SELECT 1"))
        lag = transcription_lag()
        checks["database"] = "ok"
        checks["worker_lag_seconds"] = round(lag, 1)
        if lag > LAG_LIMIT:
            ready = False
    except Exception as exc:  # the point is to report it, whatever it is
        db.session.rollback()
        checks["database"] = f"error: {type(exc).__name__}"
        ready = False
    registry = current_app.extensions["hotline.models"]
    languages = menu_languages()
    # Which models are configured, and how, without the server's folders (anyone may ask).
    checks["models"] = {
        language: source if source.startswith(("name:", "lang:")) else "folder"
        for language, source in registry.configured(languages)
    }
    # Calls go on without a model; their messages wait, untranscribed, until one is there.
    missing = {language: registry.missing(language) for language in languages}
    checks["models_missing"] = {k: v for k, v in missing.items() if v}
    checks["worker"] = current_app.config["HOTLINE_WORKER"]
    status = "unready" if not ready else "degraded" if checks["models_missing"] else "ready"
    return jsonify({"status": status, "checks": checks}), 200 if ready else 503
