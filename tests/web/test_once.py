"""Every action once, and nothing lost when a session ends (issue #17, points 2 and 3).

The same form sent twice (a double click, a reload, the back button) does its action once and
answers the copy as the first; a form sent after its session ended keeps what was typed, asks to
sign in on a translated page, and shows it again on its page afterwards.
"""

from __future__ import annotations

import html
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from ivr.database import db
from ivr.models import ApiToken, AuditEvent, FormDraft, Role
from ivr.queues.agents import create_agent
from ivr.web.auth import SIGNED_IN_AT
from tests.factories import CSRF, add_message, sign_in
from tests.loopback import RestCalls
from voicemail.models import Note

PHONE = "+8613900000001"
ZH = "zh-CN,zh;q=0.9"


def form(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the form posting to ``action`` on ``page`` (its CSRF token, its key)."""
    found = re.search(rf'<form[^>]*action="{re.escape(action)}"[^>]*>(.*?)</form>', page, re.S)
    assert found, action
    fields = {}
    for tag in re.findall(r"<input[^>]*>", found.group(1)):
        name, value = re.search(r'name="(\w+)"', tag), re.search(r'value="([^"]*)"', tag)
        if 'type="hidden"' in tag and name and value:
            fields[name[1]] = html.unescape(value[1])
    return fields


def opened(client: FlaskClient, path: str, action: str) -> dict[str, str]:
    """Open ``path`` and read the form posting to ``action`` from it."""
    return form(client.get(path).get_data(as_text=True), action)


def count(app: Flask, model: Any, *where: Any) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


@pytest.fixture
def li(app: Flask) -> None:
    with app.app_context():
        create_agent(db.session, "li", password="correct horse", phone=PHONE)
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        db.session.commit()


def test_a_note_sent_twice_is_kept_once_and_the_copy_says_so(
    app: Flask, client: FlaskClient, li: None
) -> None:
    ident = add_message(app)
    sign_in(client)
    page = client.get(f"/inbox/{ident}").get_data(as_text=True)
    assert page.count('name="form_key"') >= 4  # every form of the page carries a key
    sent = {**form(page, f"/inbox/{ident}/notes"), "body": "客户要求周五前回电"}
    first = client.post(f"/inbox/{ident}/notes", data=sent)
    again = client.post(f"/inbox/{ident}/notes", data=sent)  # a double click, or a reload
    assert first.status_code == again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"] == f"/inbox/{ident}"
    shown = client.get(f"/inbox/{ident}").get_data(as_text=True)
    assert "already sent, and done once" in shown
    assert count(app, Note) == 1
    # Another note typed on the same page is another action; the same text from a fresh page too.
    client.post(f"/inbox/{ident}/notes", data={**sent, "body": "已发短信"})
    fresh = opened(client, f"/inbox/{ident}", f"/inbox/{ident}/notes")
    client.post(f"/inbox/{ident}/notes", data={**fresh, "body": "客户要求周五前回电"})
    assert count(app, Note) == 3


def test_a_status_change_sent_twice_moves_the_case_once(
    app: Flask, client: FlaskClient, li: None
) -> None:
    ident = add_message(app)
    sign_in(client)
    sent = {**opened(client, f"/inbox/{ident}", f"/inbox/{ident}/status"), "status": "answered"}
    for _ in range(3):
        assert client.post(f"/inbox/{ident}/status", data=sent).status_code == 302
    assert count(app, AuditEvent, AuditEvent.action == "case_status") == 1


def test_a_refused_form_can_be_sent_again(app: Flask, client: FlaskClient, li: None) -> None:
    sign_in(client)
    sent = {**opened(client, "/me", "/me/password"), "current": "wrong", "new": "battery staple",
            "repeat": "battery staple"}  # fmt: skip
    for _ in range(2):  # not "already done": a form refused was not done, its key is given back
        wrong = client.post("/me/password", data=sent)
        assert wrong.status_code == 400 and "That is not your current password" in wrong.text


def test_a_call_back_clicked_twice_rings_the_customer_once(
    rest_calls: str, app: Flask, client: FlaskClient, li: None
) -> None:
    ident = add_message(app)
    sign_in(client)
    sent = opened(client, f"/inbox/{ident}", f"/inbox/{ident}/call-back")
    first = client.post(f"/inbox/{ident}/call-back", data=sent, follow_redirects=True)
    again = client.post(f"/inbox/{ident}/call-back", data=sent, follow_redirects=True)
    assert "Your phone rings now" in first.text
    # The copy repeats what the first answered, and that nothing was done again.
    assert "Your phone rings now" in again.text and "already sent, and done once" in again.text
    assert [call["To"] for call in RestCalls.placed] == [PHONE]


def _cookie(reply: requests.Response, cookie: str = "") -> str:
    return reply.cookies.get("session") or cookie


def test_two_processes_given_one_call_back_at_once_ring_once(
    rest_calls: str, app: Flask, live_server: str, li: None
) -> None:
    """Two copies of the form arriving together, as from two web processes: one claim wins."""
    ident = add_message(app)
    login = requests.get(live_server + "/login")
    token = CSRF.search(login.text)
    assert token
    signed = requests.post(live_server + "/login", allow_redirects=False,
                           data={"name": "li", "password": "correct horse", "csrf_token": token[1]},
                           cookies={"session": _cookie(login)})  # fmt: skip
    cookie = _cookie(signed)
    page = requests.get(f"{live_server}/inbox/{ident}", cookies={"session": cookie})
    cookie = _cookie(page, cookie)
    sent = form(page.text, f"/inbox/{ident}/call-back")

    def click(_: int) -> requests.Response:
        return requests.post(f"{live_server}/inbox/{ident}/call-back", data=sent,
                             cookies={"session": cookie}, allow_redirects=False)  # fmt: skip

    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(click, range(4)))
    assert {r.status_code for r in replies} == {302}
    assert {urlsplit(r.headers["Location"]).path for r in replies} == {f"/inbox/{ident}"}
    assert len(RestCalls.placed) == 1


def test_a_new_token_is_shown_once_and_a_reload_makes_no_second(
    app: Flask, client: FlaskClient, li: None
) -> None:
    sign_in(client, "zhang")
    sent = {**opened(client, "/tokens", "/tokens"), "name": "crm", "scopes": "read"}
    made = client.post("/tokens", data=sent)
    assert made.status_code == 302 and made.headers["Location"] == "/tokens"  # post/redirect/get
    shown = client.get("/tokens").text
    assert re.search(r'<code id="new-token">[^<]+</code>', shown)
    assert 'id="new-token"' not in client.get("/tokens").text  # a reload: not shown, none made
    assert client.post("/tokens", data=sent).status_code == 302  # the form sent again
    assert count(app, ApiToken) == 1


def test_revoking_a_token_asks_first_and_works_without_scripts(
    app: Flask, client: FlaskClient, li: None
) -> None:
    sign_in(client, "zhang")
    client.post("/tokens", data={**opened(client, "/tokens", "/tokens"), "name": "crm"})
    listing = client.get("/tokens").text
    ident = re.search(r'data-token="(\d+)"', listing)
    assert ident
    revoke = f"/tokens/{ident[1]}/revoke"
    assert 'data-confirm="Revoke the token crm?' in listing  # the browser's confirm() asks this
    asked = client.post(revoke, data=form(listing, revoke))  # no script: a page asks instead
    assert asked.status_code == 200 and "Revoke the token crm?" in asked.text
    assert count(app, ApiToken, ApiToken.revoked_at.is_not(None)) == 0
    confirm = form(asked.text, revoke)
    assert confirm["confirmed"] == "1"
    assert client.post(revoke, data=confirm).status_code == 302
    assert count(app, ApiToken, ApiToken.revoked_at.is_not(None)) == 1


def test_a_note_sent_after_the_session_ended_is_kept_and_shown_after_sign_in(
    app: Flask, client: FlaskClient, li: None
) -> None:
    ident = add_message(app)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = ZH
    sign_in(client)
    page = f"/inbox/{ident}"
    sent = {**opened(client, page, f"{page}/notes"), "body": "客户说包裹破损，要求换货"}
    client.delete_cookie("session")  # the session's cookie expired while the agent typed
    reply = client.post(f"{page}/notes", data=sent, headers={"Referer": f"http://localhost{page}"})
    assert reply.status_code == 400  # not done: a friendly page in Chinese, not a bare 400
    assert "您的登录已结束" in reply.text and "CSRF" not in reply.text
    assert f'action="/login?next={page}"' in reply.text
    assert count(app, Note) == 0 and count(app, FormDraft) == 1
    token = CSRF.search(reply.text)
    assert token
    signed = client.post(f"/login?next={quote(page, safe='')}",
                         data={"name": "li", "password": "correct horse", "csrf_token": token[1]})  # fmt: skip
    assert signed.headers["Location"] == page  # the message's page, never the form's URL
    shown = client.get(page).text
    assert 'id="form-draft"' in shown and "客户说包裹破损，要求换货" in shown
    assert f'data-action="{page}/notes"' in shown
    again = {**form(shown, f"{page}/notes"), "body": "客户说包裹破损，要求换货"}
    assert client.post(f"{page}/notes", data=again).status_code == 302
    assert count(app, Note) == 1 and count(app, FormDraft) == 0
    assert 'id="form-draft"' not in client.get(page).text  # sent: no longer shown


def test_a_form_sent_after_the_sign_in_grew_too_old_asks_to_sign_in_on_its_page(
    app: Flask, client: FlaskClient, li: None
) -> None:
    ident = add_message(app)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = ZH
    sign_in(client)
    page = f"/inbox/{ident}"
    sent = {**opened(client, page, f"{page}/notes"), "body": "已退款"}
    with client.session_transaction() as kept:
        kept[SIGNED_IN_AT] -= 13 * 3600  # the cookie is still there; the sign-in is too old
    reply = client.post(f"{page}/notes", data=sent)
    assert reply.status_code == 302
    assert reply.headers["Location"] == f"/login?next={page}"
    login = client.get(reply.headers["Location"]).text
    assert "您的登录已结束" in login
    assert sign_in(client, next_=f"?next={quote(page, safe='')}").headers["Location"] == page
    assert "已退款" in client.get(page).text and count(app, Note) == 0


def test_a_page_open_too_long_keeps_the_form_when_its_token_is_refused(
    app: Flask, client: FlaskClient, li: None
) -> None:
    ident = add_message(app)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = ZH
    sign_in(client)
    page = f"/inbox/{ident}"
    sent = {**opened(client, page, f"{page}/notes"), "csrf_token": "stale", "body": "稍后回电"}
    reply = client.post(f"{page}/notes", data=sent)
    assert reply.status_code == 400 and 'id="form-expired"' in reply.text
    assert "此表单已过期" in reply.text and f'href="{page}"' in reply.text
    assert "稍后回电" in client.get(page).text and count(app, Note) == 0


def test_next_never_leads_to_a_form_url_nor_away(app: Flask, client: FlaskClient, li: None) -> None:
    ident = add_message(app)
    to_form = sign_in(client, next_=f"?next=/inbox/{ident}/notes")
    assert to_form.headers["Location"] == "/inbox"  # POST only: opening it was a 405
    client.post("/logout", data={"csrf_token": CSRF.search(client.get("/inbox").text)[1]})  # type: ignore[index]
    assert sign_in(client, next_=f"?next=/inbox/{ident}").headers["Location"] == f"/inbox/{ident}"
    assert client.get(f"/inbox/{ident}").status_code == 200


def test_pages_say_when_the_session_ends(app: Flask, client: FlaskClient, li: None) -> None:
    sign_in(client)
    left = re.search(r'id="stale-notice"[^>]*data-session-left="(\d+)"', client.get("/inbox").text)
    assert left and 12 * 3600 - 60 < int(left[1]) <= 12 * 3600


# Forms that need no key: signing in (nobody to act for yet) and out (doing it twice is the same).
UNKEYED = ('class="card narrow" method="post"', "url_for('auth.logout')")


@pytest.mark.nodb
def test_every_form_that_changes_something_carries_a_key() -> None:
    """A new form without a key would be done twice on a double click where scripts are off."""
    root = Path(__file__).resolve().parents[2]
    templates = [
        *root.glob("ivr/web/templates/*.html"),
        *root.glob("voicemail/web/templates/*.html"),
    ]
    missing = [
        f"{template.name}: {tag}"
        for template in templates
        for tag, body in re.findall(r"(<form[^>]*>)(.*?)</form>", template.read_text("utf-8"), re.S)
        if 'method="post"' in tag
        and "form_key()" not in body
        and not any(u in tag for u in UNKEYED)
    ]
    assert missing == []
