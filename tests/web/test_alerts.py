"""Overdue messages sent to a supervisor: a real SMTP server and a webhook, both on loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import add_message, csrf, sign_in
from tests.loopback import serve

received: list[bytes] = []
hooks: list[dict[str, Any]] = []


class Mailbox:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        received.append(envelope.content)
        return "250 OK"


class Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        hooks.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def smtp() -> Iterator[int]:
    received.clear()
    with socket.socket() as probe:  # a free port: aiosmtpd checks readiness on the one it is given
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Mailbox(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


@pytest.fixture
def webhook() -> Iterator[str]:
    hooks.clear()
    with serve(Hook) as url:
        yield f"{url}/alerts"


@pytest.fixture
def app_settings(app_settings: dict[str, Any], smtp: int, webhook: str) -> dict[str, Any]:
    app_settings.update(HOTLINE_SMTP_HOST="127.0.0.1", HOTLINE_SMTP_PORT=smtp,
                        HOTLINE_SUPERVISOR_EMAIL="lead@example.com", HOTLINE_SMTP_FROM="hotline@example.com",
                        HOTLINE_ALERT_WEBHOOK=webhook)  # fmt: skip
    return app_settings


def test_overdue_message_goes_to_the_supervisor(
    app: Flask, client: FlaskClient, agent: str
) -> None:
    ident = add_message(app)
    sign_in(client)
    token = csrf(client, f"/inbox/{ident}")
    reply = client.post(f"/inbox/{ident}/alert", data={"csrf_token": token}, follow_redirects=True)
    assert "A supervisor was alerted (e-mail, webhook)." in reply.get_data(as_text=True)
    [raw] = received
    mail = message_from_bytes(raw, policy=default)
    assert mail["To"] == "lead@example.com"
    assert mail["Subject"] == "[hotline] Case 10000001 is overdue (after_sales)"
    body = mail.get_body().get_content()  # type: ignore[union-attr]
    assert "退货 运费 谁 承担" in body and f"/inbox/{ident}" in body
    [hook] = hooks
    assert hook["case_number"] == "10000001" and hook["voicemail_id"] == ident


@pytest.mark.parametrize("configured", ["none", "webhook", "email without a host"])
def test_the_alert_button_shows_only_where_a_channel_is_configured(
    app_settings: dict[str, Any], request: pytest.FixtureRequest, configured: str
) -> None:
    if configured != "webhook":
        app_settings["HOTLINE_ALERT_WEBHOOK"] = ""
    app_settings["HOTLINE_SMTP_HOST"] = ""  # an address alone is no channel
    app: Flask = request.getfixturevalue("app")
    request.getfixturevalue("agent")
    ident = add_message(app)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    sign_in(client)
    page = client.get(f"/inbox/{ident}").get_data(as_text=True)
    token = csrf(client, f"/inbox/{ident}")
    reply = client.post(f"/inbox/{ident}/alert", data={"csrf_token": token}, follow_redirects=True)
    if configured == "webhook":
        assert 'id="alert"' in page and "Alert a supervisor" in page
        assert "A supervisor was alerted (webhook)." in reply.get_data(as_text=True)
        assert len(hooks) == 1 and received == []
    else:
        assert 'id="alert"' not in page and "Alert a supervisor" not in page
        shown = reply.get_data(as_text=True)
        assert "Could not alert a supervisor: no alert channel is configured" in shown
        assert 'id="alert"' not in shown and hooks == [] and received == []
