"""The figures page and CSV exports: supervisors only, and the numbers match the calls."""

from __future__ import annotations

import csv
import io
import re

from flask import Flask
from flask.testing import FlaskClient

from ivr.agents import create_agent
from ivr.extensions import db
from ivr.models import Role
from tests.conftest import Twilio
from tests.ivr.test_voice import call_params
from tests.voicemail.test_api import add_message
from tests.web.test_inbox import sign_in


def people(app: Flask) -> None:
    with app.app_context():
        create_agent(db.session, "li", password="correct horse")
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        db.session.commit()


def test_agents_may_not_see_figures_or_exports(app: Flask, client: FlaskClient) -> None:
    people(app)
    sign_in(client, "li")
    for path in ("/figures", "/export/calls.csv", "/export/messages.csv"):
        assert client.get(path).status_code == 403, path


def test_figures_count_the_calls_and_exports_carry_them(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    people(app)
    for n in range(3):
        sid = "CA" + str(n) * 32
        twilio.post("/voice/incoming", call_params(CallSid=sid))
        twilio.post(
            "/voice/status", call_params(CallSid=sid, CallStatus="completed", CallDuration="9")
        )
    add_message(app)
    sign_in(client, "zhang")
    page = client.get("/figures").get_data(as_text=True)
    assert re.search(r'<b id="calls">3</b>', page)
    assert page.count("<rect ") == 24
    calls = list(
        csv.reader(
            io.StringIO(client.get("/export/calls.csv").get_data(as_text=True).lstrip("\ufeff"))
        )
    )
    assert calls[0][:3] == ["sid", "from", "to"] and len(calls) == 4
    assert {row[8] for row in calls[1:]} == {"abandoned"}
    messages = client.get("/export/messages.csv").get_data(as_text=True)
    assert "退货 运费 谁 承担" in messages
    assert "Dates must look like" in client.get("/figures?from=soon").get_data(as_text=True)
