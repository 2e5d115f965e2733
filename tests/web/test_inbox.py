"""The agents' inbox through the test client: sign-in, CSRF, the promise, a message, audio."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.clock import utcnow
from ivr.database import db
from tests.factories import add_message, csrf, sign_in
from voicemail.models import CaseStatus, Voicemail


def test_every_page_and_audio_needs_sign_in(app: Flask, client: FlaskClient) -> None:
    ident = add_message(app)
    for path in ("/", "/inbox", f"/inbox/{ident}", f"/inbox/{ident}/audio"):
        reply = client.get(path)
        assert reply.status_code == 302 and "/login" in reply.headers["Location"], path
    assert client.post(f"/inbox/{ident}/assign").status_code == 400  # no CSRF token, no session


def test_wrong_password_and_forms_without_csrf_are_refused(
    app: Flask, client: FlaskClient, agent: str
) -> None:
    reply = sign_in(client, password="wrong")
    assert reply.status_code == 200
    assert "Wrong name or password." in reply.get_data(as_text=True)
    assert (
        client.post("/login", data={"name": "li", "password": "correct horse"}).status_code == 400
    )
    assert client.get("/inbox").status_code == 302  # still signed out


def test_inbox_lists_newest_first_with_the_promise(
    app: Flask, client: FlaskClient, agent: str
) -> None:
    old = add_message(app, n=1)
    new = add_message(app, n=2)
    with app.app_context():
        db.session.get(Voicemail, old).created_at = utcnow() - timedelta(minutes=40)  # type: ignore[union-attr]
        db.session.commit()
    assert sign_in(client).status_code == 302
    page = client.get("/inbox").get_data(as_text=True)
    rows = re.findall(r'<tr class="([^"]*)" data-id="(\d+)"', page)
    assert [int(i) for _, i in rows] == [new, old]
    assert rows[1][0] == "overdue" and rows[0][0] == ""
    assert "15 min left" in page or "14 min left" in page
    assert "25 min overdue" in page
    assert "退货 运费 谁 承担" in page
    overdue = client.get("/inbox?overdue=1").get_data(as_text=True)
    assert re.findall(r'data-id="(\d+)"', overdue) == [str(old)]
    found = client.get("/inbox?q=运费").get_data(as_text=True)
    assert len(re.findall(r'data-id="(\d+)"', found)) == 2
    assert (
        re.findall(
            r'data-id="(\d+)"', client.get("/inbox?q=nothing-like-this").get_data(as_text=True)
        )
        == []
    )


def test_message_page_assign_and_answer(app: Flask, client: FlaskClient, agent: str) -> None:
    ident = add_message(app)
    sign_in(client)
    page = client.get(f"/inbox/{ident}").get_data(as_text=True)
    assert 'data-start="0.1" data-end="0.5"' in page
    assert "<h2>The call" not in page  # no call row for this stored message
    assert f'src="/inbox/{ident}/audio"' in page
    token = csrf(client, f"/inbox/{ident}")
    assert client.post(f"/inbox/{ident}/assign").status_code == 400  # no CSRF token
    client.post(f"/inbox/{ident}/assign", data={"csrf_token": token})
    client.post(f"/inbox/{ident}/status", data={"csrf_token": token, "status": "answered"})
    with app.app_context():
        message = db.session.scalars(select(Voicemail)).one()
        assert message.case_status == CaseStatus.ANSWERED
        assert message.answered_at is not None
        assert message.assigned_agent_id is not None
    audio = client.get(f"/inbox/{ident}/audio", headers={"Range": "bytes=0-99"})
    assert audio.status_code == 206 and len(audio.data) == 100
    audio.close()


def test_sign_out_and_unsafe_next(app: Flask, client: FlaskClient, agent: str) -> None:
    reply = sign_in(client, next_="?next=https://evil.example.com/")
    assert reply.headers["Location"] == "/inbox"
    token = csrf(client, "/inbox")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/inbox").status_code == 302


def test_pages_in_chinese_by_browser_or_setting_and_times_in_china(
    app: Flask, client: FlaskClient, agent: str
) -> None:
    ident = add_message(app)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9"
    login = client.get("/login").get_data(as_text=True)
    assert "<h1>登录</h1>" in login and 'lang="zh-CN"' in login
    sign_in(client)
    page = client.get("/inbox").get_data(as_text=True)
    assert "留言箱" in page and "答复期限" in page and "售后与退货" in page
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    client.get("/language/en", headers={"Referer": "http://localhost/inbox"})
    english = client.get("/inbox").get_data(as_text=True)
    assert "Reply due" in english and "after-sales and returns" in english  # the setting wins
    with app.app_context():
        message = db.session.get(Voicemail, ident)
        created = message.created_at  # type: ignore[union-attr]
    shown = client.get(f"/inbox/{ident}").get_data(as_text=True)
    china = (created + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    assert china in shown  # Asia/Shanghai, not UTC


def test_notes_are_kept_and_shown_escaped(app: Flask, client: FlaskClient, agent: str) -> None:
    ident = add_message(app)
    sign_in(client)
    token = csrf(client, f"/inbox/{ident}")
    attack = "<script>alert('x')</script> 已承诺周五前退款"
    client.post(f"/inbox/{ident}/notes", data={"csrf_token": token, "body": attack})
    page = client.get(f"/inbox/{ident}").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; 已承诺周五前退款" in page
    assert "<script>alert('x')</script>" not in page
