"""The call records API: tokens, pagination, filters, JSON errors."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.database import db
from ivr.models import ApiToken
from tests.conftest import Twilio
from tests.factories import add_calls, auth, call_params, make_token


def test_token_is_stored_hashed_and_required(app: Flask, client: FlaskClient) -> None:
    token = make_token(app)
    with app.app_context():
        row = db.session.scalars(select(ApiToken)).one()
        assert row.token_hash != token and len(row.token_hash) == 64
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {token}"}):
        reply = client.get("/api/v1/calls", headers=headers)
        assert reply.status_code == 401
        assert reply.is_json and reply.json["error"]["status"] == 401
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/v1/calls", headers=auth(token)).status_code == 200
    app.test_cli_runner().invoke(args=["tokens", "revoke", "crm"])
    assert client.get("/api/v1/calls", headers=auth(token)).status_code == 401


def test_calls_newest_first_with_cursor_pagination(app: Flask, client: FlaskClient) -> None:
    add_calls(app, 25)
    token = make_token(app)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "/api/v1/calls?limit=10" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(query, headers=auth(token)).json
        seen.extend(c["sid"] for c in body["data"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [f"CA{i:032d}" for i in reversed(range(25))]
    first = client.get("/api/v1/calls?limit=1", headers=auth(token)).json["data"][0]
    assert set(first) >= {
        "sid",
        "from",
        "to",
        "status",
        "started_at",
        "ended_at",
        "duration",
        "language",
        "menu_path",
        "outcome",
    }
    assert first["menu_path"] == ["language", "main", "delivery"]
    assert first["started_at"] == "2026-11-02T08:00:00Z"


def test_call_filters(app: Flask, client: FlaskClient) -> None:
    add_calls(app, 30)
    token = make_token(app)

    def sids(query: str) -> list[str]:
        reply = client.get(f"/api/v1/calls?limit=200&{query}", headers=auth(token))
        assert reply.status_code == 200, reply.json
        return [c["sid"] for c in reply.json["data"]]

    assert len(sids("since=2026-11-02")) == 14  # 08:00 + 16 h is midnight
    assert len(sids("until=2026-11-01")) == 16
    assert len(sids("since=2026-11-01T10:00:00Z&until=2026-11-01T12:00:00Z")) == 3
    assert len(sids("number=%2B14155550100")) == 15
    assert len(sids("outcome=abandoned")) == 10
    assert sids("number=%2B14155550100&outcome=abandoned") == [
        f"CA{i:032d}" for i in (24, 18, 12, 6, 0)
    ]


@pytest.mark.parametrize(
    "query",
    [
        "since=yesterday",
        "limit=0",
        "limit=1000",
        "limit=x",
        "outcome=happy",
        "cursor=!!!",
        "cursor=YWJj",
    ],
)
def test_bad_queries_are_json_400(app: Flask, client: FlaskClient, query: str) -> None:
    reply = client.get(f"/api/v1/calls?{query}", headers=auth(make_token(app)))
    assert reply.status_code == 400
    assert reply.json["error"]["message"]


def test_one_call_with_its_events(app: Flask, client: FlaskClient, twilio: Twilio) -> None:
    twilio.post("/voice/incoming", call_params())
    twilio.post("/voice/input/language?s=1&a=0", call_params(Digits="2"))
    twilio.post("/voice/status", call_params(CallStatus="completed", CallDuration="12"))
    token = make_token(app)
    body = client.get(f"/api/v1/calls/{call_params()['CallSid']}", headers=auth(token)).json
    assert body["language"] == "en"
    assert body["outcome"] == "abandoned"
    assert body["duration"] == 12
    assert [e["kind"] for e in body["events"]] == [
        "incoming",
        "node",
        "keys",
        "language",
        "node",
        "status",
    ]
    assert body["events"][2]["detail"] == {"digits": "2"}
    missing = client.get("/api/v1/calls/CA404", headers=auth(token))
    assert missing.status_code == 404 and missing.json["error"]["message"] == "no call CA404"
    assert client.get("/api/v1/nothing", headers=auth(token)).json["error"]["status"] == 404
