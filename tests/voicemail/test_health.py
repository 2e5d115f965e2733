"""Health and readiness: the database answers, and transcription keeps up."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from ivr.extensions import db, utcnow
from tests.voicemail.test_api import add_message
from voicemail.models import Voicemail


def test_healthy_and_ready(app: Flask, client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    reply = client.get("/readyz")
    assert reply.status_code == 200
    assert reply.json["checks"]["database"] == "ok"
    assert reply.json["checks"]["worker_lag_seconds"] == 0.0
    assert reply.json["checks"]["models"]["ko"] == "folder"  # not where it lies on the server
    assert "/" not in reply.get_data(as_text=True)


def test_unready_when_transcription_falls_behind(app: Flask, client: FlaskClient) -> None:
    ident = add_message(app, transcribed=False)
    with app.app_context():
        db.session.get(Voicemail, ident).next_attempt_at = utcnow() - timedelta(minutes=30)  # type: ignore[union-attr]
        db.session.commit()
    reply = client.get("/readyz")
    assert reply.status_code == 503
    assert reply.json["checks"]["worker_lag_seconds"] > 1700
