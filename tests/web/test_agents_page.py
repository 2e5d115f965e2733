"""The supervisors' agents page, an agent's own password, and sign-in throttling."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from werkzeug.test import TestResponse

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import Agent, AuditEvent, FormKeyUse, Role, SignInThrottle
from ivr.queues.agents import create_agent
from tests.factories import CSRF, csrf, sign_in


def add(app: Flask, name: str, role: Role = Role.AGENT) -> None:
    with app.app_context():
        create_agent(db.session, name, password="correct horse", role=role,
                     phone="+8613900000001", languages=["zh"], topics=["product"])  # fmt: skip
        db.session.commit()


def row(app: Flask, name: str) -> Agent:
    with app.app_context():
        agent = db.session.scalar(select(Agent).where(Agent.name == name))
        assert agent is not None
        db.session.expunge(agent)
        return agent


def page_text(reply: TestResponse) -> str:
    return CSRF.sub("", reply.get_data(as_text=True))  # the token is signed with the time


def signed_in(client: FlaskClient) -> bool:
    return client.get("/board").status_code == 200


def test_a_supervisor_disables_resets_and_reskills_an_agent(app: Flask) -> None:
    add(app, "boss", Role.SUPERVISOR)
    add(app, "li")
    boss, li = app.test_client(), app.test_client()
    for client in (boss, li):
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    sign_in(boss, "boss")
    sign_in(li)
    assert li.get("/agents").status_code == 403
    page = boss.get("/agents").get_data(as_text=True)
    assert 'data-agent="li" data-state="active"' in page
    ident = row(app, "li").id
    token = csrf(boss, "/agents")

    assert boss.post(f"/agents/{ident}/disable").status_code == 400  # no CSRF token
    bad = boss.post(f"/agents/{ident}", data={"csrf_token": token, "languages": ["zh", "fr"],
                                              "topics": ["product"], "phone": "+8613900000001"})  # fmt: skip
    assert bad.status_code == 400
    assert "unknown language &#39;fr&#39;; the menu has en, zh" in bad.get_data(as_text=True)
    bad = boss.post(f"/agents/{ident}", data={"csrf_token": token, "languages": ["zh"],
                                              "topics": ["product"], "phone": "0139"})  # fmt: skip
    assert bad.status_code == 400 and "E.164" in bad.get_data(as_text=True)
    good = boss.post(f"/agents/{ident}", data={"csrf_token": token, "languages": ["zh", "en"],
                                               "topics": ["product", "payment"],
                                               "phone": "+4930123456789"})  # fmt: skip
    assert good.status_code == 302
    li_row = row(app, "li")
    assert (li_row.languages, li_row.topics, li_row.phone) == (
        ["zh", "en"], ["product", "payment"], "+4930123456789")  # fmt: skip
    assert signed_in(li)  # new skills do not sign anyone out

    short = boss.post(f"/agents/{ident}/password", data={"csrf_token": token, "password": "x"})
    assert short.status_code == 400 and "at least 8 characters" in short.get_data(as_text=True)
    assert signed_in(li)
    reset = boss.post(f"/agents/{ident}/password",
                      data={"csrf_token": token, "password": "battery staple"})  # fmt: skip
    assert reset.status_code == 302 and not signed_in(li)
    assert sign_in(li, password="battery staple").status_code == 302 and signed_in(li)

    own = row(app, "boss").id
    sure = {"csrf_token": token, "confirmed": "1"}  # as the browser's confirm() sends it
    assert boss.post(f"/agents/{own}/disable", data=sure).status_code == 400
    assert boss.post(f"/agents/{ident}/disable", data=sure).status_code == 302
    assert not signed_in(li) and row(app, "li").disabled_at is not None
    assert sign_in(li, password="battery staple").status_code == 200  # refused
    assert 'data-agent="li" data-state="disabled"' in boss.get("/agents").get_data(as_text=True)
    assert boss.post(f"/agents/{ident}/enable", data={"csrf_token": token}).status_code == 302
    assert sign_in(li, password="battery staple").status_code == 302
    assert boss.post("/agents/2147483648/enable", data={"csrf_token": token}).status_code == 404

    boss.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh"
    page = boss.get("/agents").get_data(as_text=True)
    assert "重置密码" in page and "停用" in page


@pytest.mark.slow  # seconds of real time: the quick loop leaves it to the full run
def test_an_agent_changes_their_own_password_and_other_sessions_end(app: Flask) -> None:
    add(app, "li")
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here)
    sign_in(elsewhere)
    token = csrf(here, "/me")
    wrong = here.post("/me/password", data={"csrf_token": token, "current": "guess",
                                            "new": "battery staple", "repeat": "battery staple"})  # fmt: skip
    assert wrong.status_code == 400 and "这不是您当前的密码" in wrong.get_data(as_text=True)
    differ = here.post("/me/password", data={"csrf_token": token, "current": "correct horse",
                                             "new": "battery staple", "repeat": "battery"})  # fmt: skip
    assert differ.status_code == 400 and signed_in(elsewhere)
    changed = here.post("/me/password", data={"csrf_token": token, "current": "correct horse",
                                              "new": "battery staple", "repeat": "battery staple"})  # fmt: skip
    assert changed.status_code == 302
    assert signed_in(here) and not signed_in(elsewhere)
    assert sign_in(elsewhere).status_code == 200  # the old password is gone
    assert sign_in(elsewhere, password="battery staple").status_code == 302

    # A stolen session cannot guess the current password faster than the sign-in page.
    guess = {"csrf_token": csrf(here, "/me"), "current": "guess", "new": "x" * 8, "repeat": "x" * 8}
    assert [here.post("/me/password", data=guess).status_code for _ in range(6)] == [400] * 5 + [
        429
    ]
    assert signed_in(here) and signed_in(elsewhere)


def test_wrong_passwords_are_throttled_and_unknown_names_answer_alike(
    app: Flask, client: FlaskClient
) -> None:
    add(app, "li")
    unknown = sign_in(client, "nobody", "guess")
    wrong = sign_in(client, "li", "guess")
    assert unknown.status_code == wrong.status_code == 200
    assert "Wrong name or password." in unknown.get_data(as_text=True)
    assert page_text(unknown) == page_text(wrong).replace('value="li"', 'value="nobody"')
    for _ in range(4):  # five wrong passwords for li in all
        assert sign_in(client, "li", "guess").status_code == 200
    throttled = sign_in(client, "li", "correct horse")  # the sixth try, right or not
    assert throttled.status_code == 429
    assert "Too many failed sign-ins. Wait 1 min, then try again." in throttled.get_data(
        as_text=True
    )
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh"
    assert "登录失败次数过多" in sign_in(client, "li", "guess").get_data(as_text=True)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"

    def wait_over() -> timedelta:
        """The wait as set, then the clock moved past it."""
        with app.app_context():
            throttle = db.session.scalar(
                select(SignInThrottle).where(SignInThrottle.key == "name:li")
            )
            assert throttle is not None and throttle.blocked_until is not None
            wait = throttle.blocked_until - throttle.last_at
            db.session.execute(update(SignInThrottle).values(blocked_until=utcnow()))
            db.session.commit()
            return wait

    assert wait_over() == timedelta(minutes=1)
    assert sign_in(client, "li", "guess").status_code == 200  # one more try, then longer
    assert sign_in(client, "li", "correct horse").status_code == 429
    assert wait_over() == timedelta(minutes=2)
    assert sign_in(client, "LI ", "guess").status_code == 200  # the same account's count
    assert wait_over() == timedelta(minutes=4)
    assert sign_in(client, "li", "correct horse").status_code == 302  # and the count starts over
    with app.app_context():
        rows = db.session.execute(select(SignInThrottle.key, SignInThrottle.failures))
        failures = {key: count for key, count in rows}
        # li's own typos leave the address's count; the guess at another name stays on it.
        assert failures == {"name:li": 0, "addr:127.0.0.1": 1, "name:nobody": 1}


@pytest.mark.slow  # seconds of real time: the quick loop leaves it to the full run
def test_one_address_guessing_many_names_is_throttled(app: Flask, client: FlaskClient) -> None:
    add(app, "li")
    client.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert {sign_in(client, f"user{n}", "guess").status_code for n in range(20)} == {200}
    assert sign_in(client, "li", "correct horse").status_code == 429
    client.environ_base["REMOTE_ADDR"] = "192.0.2.8"  # another address is not held back
    assert sign_in(client, "li", "correct horse").status_code == 302


@pytest.mark.slow  # seconds of real time: the quick loop leaves it to the full run
def test_signing_in_to_ones_own_account_does_not_reset_guesses_at_others(
    app: Flask, client: FlaskClient
) -> None:
    add(app, "li")
    for n in range(19):
        assert sign_in(client, f"user{n}", "guess").status_code == 200
    assert sign_in(client, "li").status_code == 302  # the guesser's own account
    client.post("/logout", data={"csrf_token": csrf(client, "/me")})
    assert sign_in(client, "user19", "guess").status_code == 200  # the address's 20th try
    assert sign_in(client, "user20", "guess").status_code == 429


def test_a_supervisor_changes_their_own_password_only_with_the_current_one(app: Flask) -> None:
    add(app, "boss", Role.SUPERVISOR)
    boss = app.test_client()
    boss.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    sign_in(boss, "boss")
    own = row(app, "boss").id
    token = csrf(boss, "/agents")
    taken = boss.post(f"/agents/{own}/password",
                      data={"csrf_token": token, "password": "attacker chosen"})  # fmt: skip
    assert taken.status_code == 400
    assert "change your own password on your settings page" in taken.get_data(as_text=True)
    assert sign_in(app.test_client(), "boss", "attacker chosen").status_code == 200  # refused
    assert sign_in(app.test_client(), "boss").status_code == 302


FORM_KEY = re.compile(r'action="/agents/new".*?name="form_key" value="([^"]+)"', re.S)
NEW_PASSWORD = re.compile(r'id="new-password">.*?<code>([^<]+)</code>', re.S)


def new_agent_form(client: FlaskClient, **fields: object) -> dict[str, object]:
    """The agents page's new-agent form, filled in: its CSRF token and one-time key."""
    page = client.get("/agents").get_data(as_text=True)
    token, key = CSRF.search(page), FORM_KEY.search(page)
    assert token and key
    return {"csrf_token": token[1], "form_key": key[1], **fields}


def test_a_supervisor_creates_an_agent_who_signs_in_with_the_password_shown_once(
    app: Flask,
) -> None:
    add(app, "boss", Role.SUPERVISOR)
    add(app, "li")
    boss, li, newcomer = app.test_client(), app.test_client(), app.test_client()
    for client in (boss, li, newcomer):
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    sign_in(boss, "boss")
    sign_in(li)
    fields = {"name": "wang", "display_name": "王芳", "role": "agent", "languages": ["zh", "en"],
              "topics": ["product"], "phone": "+8613900000002", "password": ""}  # fmt: skip
    by_agent = {**fields, "csrf_token": csrf(li, "/me")}
    assert li.post("/agents/new", data=by_agent).status_code == 403

    refused = boss.post("/agents/new", data=new_agent_form(boss, **{**fields, "languages": ["fr"]}))
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "unknown language &#39;fr&#39;" in text
    assert 'value="王芳"' in text  # what was typed is kept for the correction
    bad_name = boss.post("/agents/new", data=new_agent_form(boss, **{**fields, "name": "a b"}))
    assert bad_name.status_code == 400
    taken = boss.post("/agents/new", data=new_agent_form(boss, **{**fields, "name": "li"}))
    assert taken.status_code == 400 and "exists already" in taken.get_data(as_text=True)

    sent = new_agent_form(boss, **fields)
    created = boss.post("/agents/new", data=sent)
    assert created.status_code == 302
    page = boss.get(created.headers["Location"]).get_data(as_text=True)
    assert "wang is created; they start away." in page
    shown = NEW_PASSWORD.search(page)
    assert shown and len(shown[1]) >= 12
    assert not NEW_PASSWORD.search(boss.get("/agents").get_data(as_text=True))  # only once
    again = boss.post("/agents/new", data=sent, follow_redirects=True)  # a reload of the form
    assert "already sent, and done once" in again.get_data(as_text=True)
    assert shown[1] not in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Agent.name == "wang")) == 1
        key_rows = db.session.scalars(select(FormKeyUse.notices)).all()
        assert shown[1] not in str(key_rows)  # the password is kept nowhere but in their hash
        [line] = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "agent_create")
        ).all()
        assert (line.actor, line.target) == ("agent:boss", "agent:wang")
        assert line.detail["password_made_up"] is True and line.detail["languages"] == ["zh", "en"]
    wang = row(app, "wang")
    assert (wang.display_name, wang.role, wang.languages, wang.topics, wang.phone) == (
        "王芳", Role.AGENT, ["zh", "en"], ["product"], "+8613900000002")  # fmt: skip
    assert wang.presence == "away" and wang.disabled_at is None
    assert sign_in(newcomer, "wang", shown[1]).status_code == 302 and signed_in(newcomer)

    given = {**fields, "name": "zhao", "display_name": "", "role": "supervisor",
             "password": "battery staple"}  # fmt: skip
    made = boss.post("/agents/new", data=new_agent_form(boss, **given), follow_redirects=True)
    assert not NEW_PASSWORD.search(made.get_data(as_text=True))  # the supervisor knows it
    assert row(app, "zhao").role == Role.SUPERVISOR
    zhao = app.test_client()
    assert sign_in(zhao, "zhao", "battery staple").status_code == 302
    assert zhao.get("/agents").status_code == 200
