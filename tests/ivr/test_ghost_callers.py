"""No ghost callers: a late or replayed waitUrl never puts a caller who has gone back in line."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.models import EntryState
from tests.factories import (
    add_agent,
    auth,
    call_params,
    entries,
    make_token,
    path_of,
    to_queue,
    use_rest,
    wait_loop,
)
from tests.loopback import RestCalls
from tests.signed_http import TwilioOverHttp
from tests.twiml import Doc


@pytest.fixture
def app_settings(app_settings: dict[str, Any], rest: str) -> dict[str, Any]:
    return use_rest(app_settings, rest)


@pytest.fixture
def http(live_server: str) -> TwilioOverHttp:
    return TwilioOverHttp(live_server)


def queue_now(client: FlaskClient, token: str, name: str = "product-zh") -> dict[str, Any]:
    rows = client.get("/api/v1/queues", headers=auth(token)).json["data"]
    return next(row for row in rows if row["queue"] == name)


def assert_nobody_waits(app: Flask, client: FlaskClient) -> None:
    token = make_token(app)
    assert queue_now(client, token)["waiting"] == 0
    reply = client.post("/api/v1/agents/li/take-next", headers=auth(token))
    assert reply.status_code == 200 and reply.json["offer"] is None, reply.json
    assert RestCalls.placed == []  # no agent was rung


def test_late_wait_after_the_enqueue_action_said_hangup(
    app: Flask, client: FlaskClient, http: TwilioOverHttp
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    doc = to_queue(http)  # type: ignore[arg-type]
    wait_url, _ = wait_loop(http, doc)  # type: ignore[arg-type]
    action = path_of(doc.root.find("Enqueue").get("action", ""))  # type: ignore[union-attr]
    left = http.post(action, call_params(QueueResult="hangup", QueueTime="20"))
    assert left.status_code == 200
    late = http.post(wait_url, call_params(CallStatus="in-progress", QueueTime="25"))
    assert late.status_code == 200 and Doc.parse(late.data).verbs() == ["Leave"]
    assert [e.state for e in entries(app)] == [EntryState.ABANDONED]
    assert_nobody_waits(app, client)


def test_late_wait_after_the_final_status(
    app: Flask, client: FlaskClient, http: TwilioOverHttp
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    doc = to_queue(http)  # type: ignore[arg-type]
    wait_url, _ = wait_loop(http, doc)  # type: ignore[arg-type]
    final = call_params(CallStatus="completed", CallDuration="40")
    assert http.post("/voice/status", final).status_code == 204
    assert [e.state for e in entries(app)] == [EntryState.ABANDONED]
    # Twilio's late waitUrl, as our URL names it and as an older one without the step did.
    for url in (wait_url, wait_url.replace("&s=", "&x=")):
        late = http.post(url, call_params(CallStatus="in-progress", QueueTime="45"))
        assert late.status_code == 200 and Doc.parse(late.data).verbs() == ["Leave"]
    assert [e.state for e in entries(app)] == [EntryState.ABANDONED]
    assert_nobody_waits(app, client)


def test_caller_who_hung_up_while_an_agent_was_rung_is_not_put_back(
    app: Flask, client: FlaskClient, http: TwilioOverHttp
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    wait_loop(http, to_queue(http))  # type: ignore[arg-type]
    token = make_token(app)
    assert client.post("/api/v1/agents/li/take-next", headers=auth(token)).json["offer"]
    final = call_params(CallStatus="completed", CallDuration="40")
    assert http.post("/voice/status", final).status_code == 204
    [placed] = RestCalls.placed
    RestCalls.placed.clear()
    # The agent's leg (the sid the REST stand-in gave it) rings out.
    status = {"CallSid": "CA" + f"{1:032x}", "CallStatus": "no-answer", "To": placed["To"]}
    assert http.post(path_of(placed["StatusCallback"]), status).status_code == 204
    assert [e.state for e in entries(app)] == [EntryState.ABANDONED]
    client.post("/api/v1/agents/li/presence", json={"presence": "available"}, headers=auth(token))
    assert_nobody_waits(app, client)
