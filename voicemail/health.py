"""What voicemail tells /readyz (``ivr/ops/health.py``): transcription keeps up, models are there."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select

from ivr.clock import utcnow
from ivr.database import db
from ivr.hotline import Readiness, ReadinessCheck, menu_languages
from voicemail.models import ConversationRecording, Voicemail, VoicemailStatus

LAG_LIMIT = 600.0  # seconds the oldest due job may wait before the service reports unready


def transcription_lag() -> float:
    """Seconds the oldest due job (message or recorded conversation) has waited for a worker
    (0 when none waits)."""
    due = [
        db.session.scalar(
            select(func.min(kind.next_attempt_at)).where(kind.status == VoicemailStatus.PENDING)
        )
        for kind in (Voicemail, ConversationRecording)
    ]
    oldest = min((at for at in due if at is not None), default=None)
    return max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0


def worker_lag(checks: dict[str, object]) -> Readiness:
    """Unready while the oldest due job has waited longer than LAG_LIMIT."""
    lag = transcription_lag()
    checks["worker_lag_seconds"] = round(lag, 1)
    return Readiness.UNREADY if lag > LAG_LIMIT else Readiness.READY


def speech_models(checks: dict[str, object]) -> Readiness:
    """Degraded while a menu language has no speech model (its messages wait untranscribed)."""
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
    return Readiness.DEGRADED if checks["models_missing"] else Readiness.READY


READINESS = (ReadinessCheck(worker_lag, reads_database=True), ReadinessCheck(speech_models))
