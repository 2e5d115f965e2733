"""Requests no page or Twilio sends but a fuzzer does: each gets a clear 4xx or the right answer.

Found by pointing a fuzzer the suite had not seen at the app; each case was a 500, or an apology
where a 4xx belonged.
"""

from __future__ import annotations

import base64
import io
import json
import socket
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.database import db
from ivr.models import Role
from ivr.queues.agents import create_agent
from tests.conftest import PUBLIC_BASE_URL, Twilio, sign
from tests.factories import add_message, auth, call_params, csrf, make_token
from tests.twiml import Doc


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "raw",
    ["0001-01-01T00:00:00+01:00|1", "9999-12-31T23:59:59-01:00|1",
     "2026-01-01T00:00:00+00:00|9223372036854775808", "2026-01-01T00:00:00+00:00|²"],
)  # fmt: skip
def test_a_tampered_cursor_is_a_400(app: Flask, client: FlaskClient, raw: str) -> None:
    token = make_token(app)
    for path in ("/api/v1/calls", "/api/v1/voicemails"):  # both read pages by cursor
        reply = client.get(f"{path}?cursor={cursor(raw)}", headers=auth(token))
        assert reply.status_code == 400, (path, raw)
        assert "cursor" in reply.json["error"]["message"]


def test_json_that_is_not_the_text_asked_for_is_a_400(app: Flask, client: FlaskClient) -> None:
    ident = add_message(app)
    with app.app_context():
        create_agent(db.session, "sup", password="correct horse", role=Role.SUPERVISOR)
        db.session.commit()
    headers = {**auth(make_token(app)), "Content-Type": "application/json"}
    deep = "[" * 5000 + "]" * 5000
    for path, method, field in [
        (f"/api/v1/voicemails/{ident}", "PATCH", "case_status"),
        ("/api/v1/agents/sup/presence", "POST", "presence"),
    ]:
        for body in [json.dumps({field: []}), json.dumps({field: {"a": 1}}), deep]:
            reply = client.open(path, method=method, data=body, headers=headers)
            assert reply.status_code == 400, (path, body[:40])
            assert reply.is_json


def test_a_referer_that_is_no_url_still_switches_the_language(client: FlaskClient) -> None:
    for referer in ("http://[::1", "http://[x]/"):
        reply = client.get("/language/en", headers={"Referer": referer})
        assert reply.status_code == 302, referer


def test_a_file_where_the_login_form_wants_a_name_fails_the_form(
    app: Flask, client: FlaskClient
) -> None:
    token = csrf(client, "/login")
    data = {"csrf_token": token, "name": (io.BytesIO(b"li"), "a.txt"), "password": "x" * 9}
    reply = client.post("/login", data=data, content_type="multipart/form-data")
    assert reply.status_code == 200  # the form again, not a 500
    assert 'name="password"' in reply.get_data(as_text=True)
    # A JSON body is not the form either, whatever its shape.
    for body in ("[1]", '"x"', '{"name": ["li"], "password": {"a": 1}}', "[" * 5000 + "]" * 5000):
        reply = client.post(
            "/login", data=body, content_type="application/json", headers={"X-CSRFToken": token}
        )
        assert reply.status_code == 200, body[:40]


def test_signed_query_values_that_are_not_ascii_digits_get_a_4xx(
    app: Flask, twilio: Twilio
) -> None:
    twilio.post("/voice/incoming", call_params())
    completed = call_params(CallStatus="completed")
    for path in [
        "/voice/input/main?s=%C2%B2&a=0",
        "/voice/node/main?s=%D9%A3",
        "/voice/agent/status?entry=%C2%B2&agent=1",
        "/voice/agent/connect?entry=1&agent=9223372036854775808",
        "/voice/queue/join?entry=%C2%B2&s=4",
        "/voice/queue/talked?entry=1&s=%D9%A3",
        "/voice/message-call/status?message=%C2%B2&agent=1",
    ]:
        reply = twilio.post(path, completed)
        assert 400 <= reply.status_code < 500 or reply.status_code == 204, (path, reply.status_code)
        assert b"<Response" not in reply.data, path  # not an apology for a caller


def test_keys_sent_to_a_node_that_asks_for_none_play_that_node(app: Flask, twilio: Twilio) -> None:
    """A call in progress when the menu changed: its old input URL now names a queue."""
    twilio.post("/voice/incoming", call_params())
    reply = twilio.post("/voice/input/product?s=3&a=0&lang=zh", call_params(Digits="1"))
    doc = Doc.parse(reply.data)
    assert reply.status_code == 200
    # The product queue as it plays now: nobody is signed in, so the caller may leave a message.
    assert "抱歉，目前所有客服都在忙。" in [text for _, text in doc.said()]
    assert "Record" in doc.verbs()


def raw_post(base: str, path: str, head: dict[str, str], body: bytes) -> int:
    """POST over a plain socket, so the body can be what no client library would send."""
    url = urlsplit(base)
    lines = [f"POST {path} HTTP/1.1", f"Host: {url.netloc}", "Connection: close",
             *(f"{k}: {v}" for k, v in head.items()), "", ""]  # fmt: skip
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall("\r\n".join(lines).encode() + body)
        reply = sock.makefile("rb").readline()
    return int(reply.split()[1])


@pytest.mark.gunicorn
def test_a_malformed_chunked_body_is_a_400_under_gunicorn(gunicorn: str) -> None:
    form = "application/x-www-form-urlencoded"
    url = PUBLIC_BASE_URL + "/voice/incoming"
    head = {"Content-Type": form, "Transfer-Encoding": "chunked",
            "X-Twilio-Signature": sign(url, call_params())}  # fmt: skip
    for body in (b"2\r\nabcdef\r\n0\r\n\r\n", b"zz\r\nab\r\n0\r\n\r\n"):
        for path in ("/voice/incoming", "/voice/status", "/login", "/api/v1/calls"):
            assert raw_post(gunicorn, path, head, body) == 400, (path, body)
