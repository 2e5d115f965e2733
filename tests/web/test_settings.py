"""An agent's own settings: the time zone their pages show times in."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.database import db
from ivr.models import Agent, Call
from tests.conftest import Twilio
from tests.factories import agent, call_params, csrf, sign_in


def test_an_agent_sets_their_time_zone_and_every_time_follows(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    agent(app)
    twilio.post("/voice/incoming", call_params())
    with app.app_context():
        started = db.session.scalars(select(Call.started_at)).one()

    def shown(zone: str) -> str:
        return started.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")

    assert client.get("/me").status_code == 302  # sign-in first
    sign_in(client)
    assert shown("Asia/Shanghai") in client.get("/calls").get_data(as_text=True)
    page = client.get("/me").get_data(as_text=True)
    assert '<option selected value="Asia/Shanghai">' in page

    token = csrf(client, "/me")
    saved = client.post(
        "/me", data={"csrf_token": token, "timezone": "Europe/Berlin"}, follow_redirects=True
    )
    assert "Saved." in saved.get_data(as_text=True)
    assert shown("Europe/Berlin") in client.get("/calls").get_data(as_text=True)

    for bad in ("Mars/Olympus_Mons", "../../etc/passwd", ""):
        refused = client.post("/me", data={"csrf_token": token, "timezone": bad})
        assert refused.status_code == 200 and "Saved." not in refused.get_data(as_text=True)
    assert client.post("/me", data={"timezone": "UTC"}).status_code in (200, 400)  # no CSRF token
    with app.app_context():
        assert db.session.scalars(select(Agent.timezone)).one() == "Europe/Berlin"
