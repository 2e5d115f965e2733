"""The audit log: who signed in, changed tokens, agents and cases, and listened to what."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.audit import audit
from ivr.database import db
from ivr.models import Agent, AuditEvent, Role, SignInThrottle
from ivr.queues.agents import create_agent
from tests.factories import add_message, auth, csrf, make_token, sign_in


def lines(app: Flask, action: str | None = None) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            query = query.where(AuditEvent.action == action)
        rows = list(db.session.scalars(query))
        db.session.expunge_all()
        return rows


@pytest.fixture
def supervisor(app: Flask) -> str:
    with app.app_context():
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        create_agent(db.session, "li", password="correct horse")
        db.session.commit()
    return "zhang"


def test_sign_ins_are_kept_with_the_address(
    app: Flask, client: FlaskClient, supervisor: str
) -> None:
    sign_in(client, "li", "wrong password")
    sign_in(client, "nobody", "whatever1")
    sign_in(client, "li")
    failed = lines(app, "sign_in_failed")
    assert [(e.actor, e.address) for e in failed] == [
        ("agent:li", "127.0.0.1"),
        ("agent:nobody", "127.0.0.1"),
    ]
    [ok] = lines(app, "sign_in")
    assert (ok.actor, ok.address) == ("agent:li", "127.0.0.1")


def test_cli_changes_are_kept(app: Flask) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["agents", "create", "wang", "--password", "correct horse"])
    runner.invoke(args=["tokens", "create", "crm", "--scopes", "read"])
    runner.invoke(args=["tokens", "revoke", "crm"])
    got = [(e.action, e.actor, e.target, e.address) for e in lines(app)]
    assert got == [
        ("agent_create", "cli", "agent:wang", ""),
        ("token_create", "cli", "token:crm", ""),
        ("token_revoke", "cli", "token:crm", ""),
    ]
    assert lines(app, "token_create")[0].detail == {"scopes": ["read"]}


def test_page_changes_of_tokens_and_cases_are_kept(
    app: Flask, client: FlaskClient, supervisor: str
) -> None:
    ident = add_message(app)
    sign_in(client, "zhang")
    client.post("/tokens", data={"csrf_token": csrf(client, "/tokens"), "name": "crm",
                                 "scopes": ["read", "write"]})  # fmt: skip
    with app.app_context():
        token_id = db.session.scalar(
            select(AuditEvent.id).where(AuditEvent.action == "token_create")
        )
    page = client.get("/tokens").get_data(as_text=True)
    assert "data-token" in page
    row_id = page.split('data-token="')[1].split('"')[0]
    client.post(f"/tokens/{row_id}/revoke",
                data={"csrf_token": csrf(client, "/tokens"), "confirmed": "1"})  # fmt: skip
    client.post(f"/inbox/{ident}/status",
                data={"csrf_token": csrf(client, f"/inbox/{ident}"), "status": "answered"})  # fmt: skip
    assert token_id is not None
    got = [(e.action, e.actor, e.target) for e in lines(app) if e.action != "sign_in"]
    assert got == [
        ("token_create", "agent:zhang", "token:crm"),
        ("token_revoke", "agent:zhang", f"token:crm#{row_id}"),
        ("case_status", "agent:zhang", f"voicemail:{ident}"),
    ]
    change = lines(app, "case_status")[0].detail
    assert change["from"] == "received" and change["to"] == "answered" and change["via"] == "page"


def test_api_case_changes_and_downloads_name_the_token(app: Flask, client: FlaskClient) -> None:
    ident = add_message(app)
    token = make_token(app, "crm", "read,write")
    client.patch(f"/api/v1/voicemails/{ident}", json={"case_status": "resolved"},
                 headers=auth(token))  # fmt: skip
    for chunk in ("bytes=0-99", "bytes=100-199", "bytes=200-"):  # a player seeking: one listen
        with client.get(f"/api/v1/voicemails/{ident}/audio",
                        headers={**auth(token), "Range": chunk}) as reply:  # fmt: skip
            assert reply.status_code == 206
    [change] = lines(app, "case_status")
    [download] = lines(app, "recording_download")
    actor = change.actor
    assert actor.startswith("token:crm#") and change.detail["via"] == "api"
    assert (download.actor, download.target, download.address) == (
        actor, f"voicemail:{ident}", "127.0.0.1")  # fmt: skip
    other = make_token(app, "archive", "read")
    with client.get(f"/api/v1/voicemails/{ident}/audio", headers=auth(other)):
        pass
    assert len(lines(app, "recording_download")) == 2  # another reader is another line


def test_listening_in_the_inbox_is_kept_once_per_sitting(
    app: Flask, client: FlaskClient, supervisor: str
) -> None:
    ident = add_message(app)
    sign_in(client, "li")
    for chunk in ("bytes=0-", "bytes=500-", "bytes=0-"):
        with client.get(f"/inbox/{ident}/audio", headers={"Range": chunk}) as reply:
            assert reply.status_code == 206
    [listen] = lines(app, "recording_listen")
    assert (listen.actor, listen.target) == ("agent:li", f"voicemail:{ident}")
    with client.get("/inbox/999999/audio") as missing:
        assert missing.status_code == 404
    assert len(lines(app, "recording_listen")) == 1


def test_the_audit_page_is_for_supervisors_filters_and_exports(
    app: Flask, client: FlaskClient, supervisor: str
) -> None:
    with app.app_context():
        audit("token_create", actor="=cmd|' /c calc'!A1", target="token:x")
        db.session.add(
            AuditEvent(
                at=datetime(2026, 1, 5, 3, 0, tzinfo=UTC),
                action="sign_in",
                actor="agent:old",
                target="",
                address="10.0.0.9",
                detail={},
            )
        )
        db.session.commit()  # fmt: skip
    sign_in(client, "li")
    assert client.get("/audit").status_code == 403
    assert client.get("/audit.csv").status_code == 403
    client.post("/logout", data={"csrf_token": csrf(client, "/inbox")})
    sign_in(client, "zhang")
    page = client.get("/audit").get_data(as_text=True)
    assert page.count("<tr data-action=") == 4  # li and zhang signed in, and the 2 above
    only = client.get("/audit?action=sign_in&who=zhang").get_data(as_text=True)
    assert only.count("<tr data-action=") == 1 and "agent zhang" in only
    days = client.get("/audit?from=2026-01-05&to=2026-01-05").get_data(as_text=True)
    assert days.count("<tr data-action=") == 1 and "agent old" in days
    assert "Dates must look like" in client.get("/audit?from=5.1.2026").get_data(as_text=True)
    reply = client.get("/audit.csv?action=token_create&header=keys")
    assert reply.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(reply.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:4] == ["at_utc", "at_local", "action", "actor"]
    assert [r[3] for r in rows[1:]] == [
        "'=cmd|' /c calc'!A1"
    ]  # a spreadsheet shows it, not runs it
    for method in ("post", "put", "patch", "delete"):
        assert getattr(client, method)("/audit").status_code == 405


def test_audit_lines_cannot_be_changed_or_removed(app: Flask) -> None:
    with app.app_context():
        audit("sign_in", actor="agent:li")
        db.session.commit()
        line = db.session.scalars(select(AuditEvent)).one()
        line.actor = "agent:someone-else"
        with pytest.raises(RuntimeError, match="never changed"):
            db.session.commit()
        db.session.rollback()
        with pytest.raises(RuntimeError, match="never changed"):
            db.session.delete(db.session.scalars(select(AuditEvent)).one())
            db.session.commit()
        db.session.rollback()
        assert db.session.scalars(select(AuditEvent)).one().actor == "agent:li"


def test_the_audit_page_in_chinese(app: Flask, client: FlaskClient, supervisor: str) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh"
    sign_in(client, "zhang")
    html = client.get("/audit").get_data(as_text=True)
    assert "<h1>审计日志</h1>" in html and "<td>已登录</td>" in html
    tokens = client.get("/tokens").get_data(as_text=True)
    assert "权限范围" in tokens and "通话、留言及其录音" in tokens


def test_agents_switched_off_reskilled_and_given_passwords_are_kept(
    app: Flask, client: FlaskClient, supervisor: str
) -> None:
    runner = app.test_cli_runner()
    for args in (["disable", "li"], ["enable", "li"], ["password", "li", "--password", "battery staple"],
                 ["update", "li", "--languages", "zh,en"]):  # fmt: skip
        assert runner.invoke(args=["agents", *args]).exit_code == 0
    sign_in(client, supervisor)
    with app.app_context():
        li = db.session.scalar(select(Agent.id).where(Agent.name == "li"))
    token = csrf(client, "/agents")
    sure = {"csrf_token": token, "confirmed": "1"}
    assert client.post(f"/agents/{li}/disable", data=sure).status_code == 302
    reskill = {"csrf_token": token, "languages": ["zh"], "topics": ["product"], "phone": ""}
    assert client.post(f"/agents/{li}", data=reskill).status_code == 302
    kept = [(e.action, e.actor, e.target) for e in lines(app) if e.target == "agent:li"]
    assert kept == [
        ("agent_disable", "cli", "agent:li"),
        ("agent_enable", "cli", "agent:li"),
        ("password_reset", "cli", "agent:li"),
        ("agent_update", "cli", "agent:li"),
        ("agent_disable", "agent:zhang", "agent:li"),
        ("agent_update", "agent:zhang", "agent:li"),
    ]
    assert lines(app, "agent_update")[-1].detail == {
        "languages": ["zh"], "topics": ["product"], "phone": "",
    }  # fmt: skip


def test_throttled_sign_ins_are_kept(app: Flask, supervisor: str) -> None:
    guesser = app.test_client()
    for attempt in range(6):
        sign_in(guesser, "li", f"guess number {attempt}")
    [throttled] = lines(app, "sign_in_throttled")
    assert (throttled.actor, throttled.address) == ("agent:li", "127.0.0.1")
    assert len(lines(app, "sign_in_failed")) == 5


def test_taking_a_case_is_kept_the_right_way_round(
    app: Flask, client: FlaskClient, supervisor: str
) -> None:
    ident = add_message(app)
    sign_in(client, "li")
    token = csrf(client, f"/inbox/{ident}")
    assert client.post(f"/inbox/{ident}/assign", data={"csrf_token": token}).status_code == 302
    [taken] = lines(app, "case_status")
    assert taken.actor == "agent:li"
    assert (taken.detail["from"], taken.detail["to"], taken.detail["via"]) == (
        "received", "in_progress", "assign",
    )  # fmt: skip


def test_the_same_listener_from_another_address_is_another_line(
    app: Flask, client: FlaskClient, supervisor: str
) -> None:
    ident = add_message(app)
    sign_in(client, "li")
    for address in ("127.0.0.1", "203.0.113.9", "203.0.113.9"):  # a copied cookie elsewhere
        client.environ_base["REMOTE_ADDR"] = address
        with client.get(f"/inbox/{ident}/audio", headers={"Range": "bytes=0-"}) as reply:
            assert reply.status_code == 206
    kept = [(e.actor, e.address) for e in lines(app, "recording_listen")]
    assert kept == [("agent:li", "127.0.0.1"), ("agent:li", "203.0.113.9")]


@pytest.mark.slow  # seconds of real time: the quick loop leaves it to the full run
def test_refused_sign_ins_do_not_fill_the_log(app: Flask, supervisor: str) -> None:
    sprayer = app.test_client()
    for attempt in range(30):  # a new name each time: cheap for the guesser once refused
        sign_in(sprayer, f"name{attempt}", "guess")
    assert len(lines(app, "sign_in_failed")) == 20  # the address's tries
    assert len(lines(app, "sign_in_throttled")) == 1  # once a minute per address
    with app.app_context():
        names = db.session.scalars(select(SignInThrottle.key)).all()
    assert len([k for k in names if k.startswith("name:")]) == 20  # none for refused names
