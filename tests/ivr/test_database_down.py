"""The database is unreachable: callers still hear words, callbacks ask Twilio to retry."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from ivr.queues.distribution import stop_distributor
from tests.conftest import Twilio, settings
from tests.factories import call_params
from tests.twiml import Doc


def closed_port() -> int:
    """A loopback port nothing listens on (the database server is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def down(tmp_path: Path) -> Iterator[Flask]:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/hotline?connect_timeout=2"
    app = create_app(settings(tmp_path, url))
    yield app
    stop_distributor(app)  # its tick would go on trying the closed port


@pytest.fixture
def twilio_down(down: Flask) -> Twilio:
    client: FlaskClient = down.test_client()
    return Twilio(client)


@pytest.mark.parametrize(
    "path",
    ["/voice/incoming", "/voice/input/language?s=1&a=0", "/voice/queue/wait?n=product&lang=zh"],
)
def test_a_caller_hears_an_apology_not_dead_air(twilio_down: Twilio, path: str) -> None:
    reply = twilio_down.post(path, call_params(Digits="1"))
    assert reply.status_code == 200
    doc = Doc.parse(reply.data)
    assert doc.said(), doc.verbs()
    assert b"Traceback" not in reply.data and b"psycopg" not in reply.data


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/voice/status", {"CallStatus": "completed", "CallDuration": "30"}),
        (
            "/voice/voicemail/status",
            {
                "RecordingStatus": "completed",
                "RecordingSid": "RE" + "1" * 32,
                "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC"
                + "0" * 32
                + "/Recordings/RE"
                + "1" * 32,
                "RecordingDuration": "5",
            },
        ),
    ],
)
def test_a_status_callback_is_refused_so_that_twilio_retries(
    twilio_down: Twilio, path: str, extra: dict[str, str]
) -> None:
    reply = twilio_down.post(path, call_params(**extra))
    assert reply.status_code == 503
    assert reply.headers["Retry-After"] == "1"
    assert b"Traceback" not in reply.data and b"psycopg" not in reply.data
