"""Agents switched off and on, re-skilled and given passwords: from the CLI, the API and the queue."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.database import db
from ivr.models import Agent, EntryState, Presence
from tests.conftest import Twilio
from tests.factories import (
    SID,
    add_agent,
    auth,
    entries,
    invoke,
    make_token,
    path_of,
    to_queue,
    use_rest,
    wait_loop,
)
from tests.loopback import RestCalls
from tests.twiml import Doc


@pytest.fixture
def app_settings(app_settings: dict[str, Any], rest: str) -> dict[str, Any]:
    return use_rest(app_settings, rest)


def agent_row(app: Flask, name: str = "li") -> Agent:
    with app.app_context():
        agent = db.session.scalar(select(Agent).where(Agent.name == name))
        assert agent is not None
        db.session.expunge(agent)
        return agent


def test_a_disabled_agent_is_offered_no_caller_and_refused_by_the_api(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    token = make_token(app)
    assert invoke(app, "agents", "disable", "li").exit_code == 0
    assert agent_row(app).presence == Presence.AWAY
    assert "Enqueue" not in to_queue(twilio).verbs()  # nobody signed in for the queue

    for path, body in (("presence", {"presence": "available"}), ("take-next", None)):
        reply = client.post(f"/api/v1/agents/li/{path}", json=body, headers=auth(token))
        assert reply.status_code == 409 and "li is disabled" in reply.json["error"]["message"]
    assert invoke(app, "agents", "presence", "li", "available").exit_code == 1
    assert agent_row(app).presence == Presence.AWAY

    assert invoke(app, "agents", "enable", "li").exit_code == 0
    assert agent_row(app).presence == Presence.AWAY  # back, but not yet taking callers
    reply = client.post("/api/v1/agents/li/presence", json={"presence": "available"},
                        headers=auth(token))  # fmt: skip
    assert reply.status_code == 200 and reply.json["disabled"] is False
    wait_loop(twilio, to_queue(twilio, sid=SID[:-1] + "9"), sid=SID[:-1] + "9")

    # Disabled with a caller waiting: take-next refuses, and no phone rings.
    assert invoke(app, "agents", "disable", "li").exit_code == 0
    assert client.post("/api/v1/agents/li/take-next", headers=auth(token)).status_code == 409
    assert RestCalls.placed == []
    queues = client.get("/api/v1/queues", headers=auth(token)).json["data"]
    assert all(row["agents_signed_in"] == 0 for row in queues), queues


def test_the_cli_changes_skills_phone_and_password_within_the_menu(app: Flask) -> None:
    refused = [
        (["--topics", "product,billing"], "unknown topic 'billing'; the menu has after_sales, "
         "general, payment, product"),
        (["--languages", "zh,fr"], "unknown language 'fr'; the menu has en, zh"),
        (["--phone", "13900000001"], "phone '13900000001' is not an E.164 number"),
        (["--phone", "+8613900000001234"], "is not an E.164 number"),
    ]  # fmt: skip
    for args, reason in refused:
        made = invoke(app, "agents", "create", "li", "--password", "correct horse", *args)
        assert made.exit_code == 1 and reason in made.output, made.output
        assert len(made.output.strip().splitlines()) == 1
    made = invoke(app, "agents", "create", "li", "--password", "correct horse",
                  "--phone", "+8613900000001", "--languages", "zh", "--topics", "product")  # fmt: skip
    assert made.exit_code == 0, made.output

    for args, reason in refused:
        updated = invoke(app, "agents", "update", "li", *args)
        assert updated.exit_code == 1 and reason in updated.output, updated.output
    updated = invoke(app, "agents", "update", "li", "--languages", "zh,en,zh", "--topics",
                     "product,payment", "--phone", "+4930123456789")  # fmt: skip
    assert updated.exit_code == 0, updated.output
    li = agent_row(app)
    assert (li.languages, li.topics, li.phone) == (["zh", "en"], ["product", "payment"],
                                                   "+4930123456789")  # fmt: skip
    assert invoke(app, "agents", "update", "li", "--topics", "general").exit_code == 0
    assert agent_row(app).languages == ["zh", "en"]  # what is not given stays

    epoch = agent_row(app).session_epoch
    short = invoke(app, "agents", "password", "li", "--password", "short")
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    prompted = app.test_cli_runner().invoke(
        args=["agents", "password", "li"], input="battery staple\nbattery staple\n"
    )
    assert prompted.exit_code == 0, prompted.output
    assert agent_row(app).session_epoch == epoch + 1  # every session of li ended
    assert invoke(app, "agents", "password", "nobody", "--password", "x" * 8).exit_code == 1

    assert invoke(app, "agents", "disable", "li").exit_code == 0
    listing = invoke(app, "agents", "list").output.split("\t")
    assert listing[:3] == ["li", "agent", "disabled"]


def test_an_agent_disabled_while_their_phone_rings_is_not_put_through(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    wait_loop(twilio, to_queue(twilio))
    token = make_token(app)
    assert client.post("/api/v1/agents/li/take-next", headers=auth(token)).status_code == 200
    [placed] = RestCalls.placed
    assert invoke(app, "agents", "disable", "li").exit_code == 0
    leg = {"CallSid": "CA" + "a" * 32, "From": "+10000000000", "To": placed["To"],
           "CallStatus": "in-progress", "Direction": "outbound-api"}  # fmt: skip
    answered = Doc.parse(twilio.post(path_of(placed["Url"]), leg).data)
    assert answered.verbs() == ["Hangup"]  # no whisper, no Dial: the caller stays in line
    [entry] = entries(app)
    assert (entry.state, entry.agent_id) == (EntryState.WAITING, None)
    assert agent_row(app).presence == Presence.AWAY
