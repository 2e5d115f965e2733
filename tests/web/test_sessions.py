"""Sessions over real HTTP: cookie flags, a lifetime the server keeps, and copies that stop working."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.database import db
from ivr.models import Agent, Role, SignInThrottle
from ivr.queues.agents import create_agent, disable_agent, find_agent, set_password
from ivr.web.auth import SIGNED_IN_AT
from tests.factories import CSRF
from tests.factories import sign_in as sign_in_client

PASSWORD = "correct horse"


def add_agent(app: Flask, name: str = "li", role: Role = Role.AGENT) -> None:
    with app.app_context():
        create_agent(db.session, name, password=PASSWORD, role=role)
        db.session.commit()


def session_cookie(reply: requests.Response) -> str:
    """The session cookie a reply set, copied by hand (it is Secure: requests keeps it for https)."""
    value = reply.cookies.get("session")
    assert value, reply.headers.get("Set-Cookie")
    return value


def sign_in(base: str, name: str = "li", password: str = PASSWORD) -> requests.Response:
    """The sign-in form, filled and posted as a browser would; no redirect followed."""
    page = requests.get(base + "/login")
    token = CSRF.search(page.text)
    assert token
    return requests.post(
        base + "/login",
        data={"name": name, "password": password, "csrf_token": token.group(1)},
        cookies={"session": session_cookie(page)},
        allow_redirects=False,
    )


def page(base: str, cookie: str, path: str = "/board") -> int:
    """The status of a page fetched with a copied cookie: 200 signed in, 302 to sign-in."""
    reply = requests.get(base + path, cookies={"session": cookie}, allow_redirects=False)
    assert reply.status_code == 200 or "/login" in reply.headers["Location"]
    return reply.status_code


def sign_out(base: str, cookie: str) -> None:
    board = requests.get(base + "/board", cookies={"session": cookie})
    token = CSRF.search(board.text)
    assert token
    cookie = board.cookies.get("session") or cookie  # now holding the form's CSRF secret
    reply = requests.post(base + "/logout", data={"csrf_token": token.group(1)},
                          cookies={"session": cookie}, allow_redirects=False)  # fmt: skip
    assert reply.status_code == 302


def test_the_session_cookie_is_locked_down_and_lasts_a_shift(app: Flask, live_server: str) -> None:
    add_agent(app)
    reply = sign_in(live_server)
    assert reply.status_code == 302
    flags = [part.strip().lower() for part in reply.headers["Set-Cookie"].split(";")]
    assert {"httponly", "secure", "samesite=lax"} <= set(flags)  # PUBLIC_BASE_URL is https
    expires = next(part for part in flags if part.startswith("expires="))
    hours = (parsedate_to_datetime(expires[8:]) - datetime.now(UTC)).total_seconds() / 3600
    assert 11 < hours <= 12  # HOTLINE_SESSION_HOURS' default, not Flask's 31 days


def test_a_plain_http_site_drops_secure_and_the_lifetime_follows_the_setting(
    app_settings: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    app_settings.update(PUBLIC_BASE_URL="http://127.0.0.1:8000", HOTLINE_SESSION_HOURS=2)
    client: FlaskClient = request.getfixturevalue("client")  # an app made with these settings
    app = client.application
    add_agent(app)
    assert sign_in_client(client).status_code == 302
    cookie = client.get_cookie("session")
    assert cookie is not None and not cookie.secure and cookie.http_only
    assert cookie.same_site == "Lax" and cookie.expires is not None
    hours = (cookie.expires - datetime.now(UTC)).total_seconds() / 3600
    assert 1 < hours <= 2


def test_a_cookie_older_than_its_lifetime_is_refused(app: Flask, live_server: str) -> None:
    add_agent(app)
    cookie = session_cookie(sign_in(live_server))
    assert page(live_server, cookie) == 200
    # The same session as a browser would replay it 13 hours on, still validly signed.
    signer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    assert signer is not None
    data = signer.loads(cookie)
    data[SIGNED_IN_AT] -= 13 * 3600
    assert page(live_server, signer.dumps(data)) == 302
    assert page(live_server, cookie) == 200


def test_a_copied_cookie_ends_with_sign_out_a_password_change_and_disabling(
    app: Flask, live_server: str
) -> None:
    add_agent(app)
    cookie = session_cookie(sign_in(live_server))
    copy = cookie
    assert page(live_server, copy) == 200
    sign_out(live_server, cookie)
    assert page(live_server, copy) == 302

    copy = session_cookie(sign_in(live_server))
    assert page(live_server, copy) == 200
    with app.app_context():
        set_password(find_agent(db.session, "li"), "battery staple")
        db.session.commit()
    assert page(live_server, copy) == 302
    assert sign_in(live_server).status_code == 200  # the old password is refused
    copy = session_cookie(sign_in(live_server, password="battery staple"))
    assert page(live_server, copy) == 200

    with app.app_context():
        disable_agent(find_agent(db.session, "li"))
        db.session.commit()
    assert page(live_server, copy) == 302
    refused = sign_in(live_server, password="battery staple")
    assert refused.status_code == 200 and "/board" not in refused.headers.get("Location", "")


@pytest.mark.gunicorn
def test_sign_out_and_guesses_hold_in_every_gunicorn_process(app: Flask, gunicorn: str) -> None:
    add_agent(app)
    add_agent(app, "wang")
    cookie = session_cookie(sign_in(gunicorn))
    # New connections each time: gunicorn spreads them over both processes.
    assert all(page(gunicorn, cookie) == 200 for _ in range(10))
    sign_out(gunicorn, cookie)
    assert all(page(gunicorn, cookie) == 302 for _ in range(10))

    # Twelve wrong guesses at once, from both processes: only the first five are checked.
    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda _: sign_in(gunicorn, "wang", "guess"), range(12)))
    statuses = sorted(reply.status_code for reply in replies)
    assert statuses.count(200) == 5 and statuses.count(429) == 7, statuses
    assert sign_in(gunicorn, "wang", PASSWORD).status_code == 429  # the right one waits too
    with app.app_context():
        row = db.session.scalar(select(SignInThrottle).where(SignInThrottle.key == "name:wang"))
        assert row is not None and row.failures == 5 and row.blocked_until is not None
        assert db.session.scalar(select(Agent.session_epoch).where(Agent.name == "li")) == 1


def test_a_board_poll_answered_after_a_form_does_not_take_its_message_back(
    app: Flask, live_server: str
) -> None:
    """The board polls while the agent presses a button. A poll sent before the button's reply
    and answered after it must not set the cookie it was sent with: the browser would keep that
    one, and the page the button leads to would lose its message ("Done: …")."""
    add_agent(app)
    cookie = session_cookie(sign_in(live_server))
    board = requests.get(live_server + "/board", cookies={"session": cookie})
    token = CSRF.search(board.text)
    assert token
    cookie = board.cookies.get("session") or cookie  # holding the form's CSRF secret
    for path in ("/board/live.json", "/board/wrapup.json", "/board.json", "/board"):
        polled = requests.get(live_server + path, cookies={"session": cookie})
        assert polled.status_code == 200, path
        assert "session" not in polled.cookies, path  # unchanged: not sent again
    pressed = requests.post(live_server + "/board/take-next", data={"csrf_token": token.group(1)},
                            cookies={"session": cookie}, allow_redirects=False)  # fmt: skip
    assert pressed.status_code == 302
    with_message = session_cookie(pressed)
    late_poll = requests.get(live_server + "/board/live.json", cookies={"session": cookie})
    assert "session" not in late_poll.cookies
    shown = requests.get(live_server + "/board", cookies={"session": with_message})
    assert '<p class="flash">' in shown.text  # e.g. "Nobody is waiting for you."
