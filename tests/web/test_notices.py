"""What the board's and the inbox's notices poll: the newest message, and how many came since."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.factories import add_message, sign_in


def test_the_newest_message_needs_sign_in(app: Flask, client: FlaskClient) -> None:
    add_message(app)
    reply = client.get("/inbox/latest.json")
    assert reply.status_code == 302 and "/login" in reply.headers["Location"]


def test_the_newest_message_and_how_many_came_after_it(
    app: Flask, client: FlaskClient, agent: str
) -> None:
    sign_in(client)
    empty = client.get("/inbox/latest.json")
    assert empty.status_code == 200 and empty.json == {"newest": 0, "new": 0}
    assert empty.headers["Cache-Control"] == "no-store"
    assert client.get("/inbox/latest.json?after=0").json == {"newest": 0, "new": 0}
    first = add_message(app, n=1, transcribed=False)  # listed before it is transcribed
    assert client.get("/inbox/latest.json").json == {"newest": first, "new": 0}
    assert client.get("/inbox/latest.json?after=0").json == {"newest": first, "new": 1}
    second, third = add_message(app, n=2), add_message(app, n=3)
    assert client.get(f"/inbox/latest.json?after={first}").json == {"newest": third, "new": 2}
    assert client.get(f"/inbox/latest.json?after={second}").json == {"newest": third, "new": 1}
    assert client.get(f"/inbox/latest.json?after={third}").json == {"newest": third, "new": 0}
    # Whatever page and filters the agent has open, every message counts.
    assert client.get("/inbox/latest.json?after=x&mine=1").json == {"newest": third, "new": 0}


def test_the_board_and_the_inbox_carry_the_switch(client: FlaskClient, agent: str) -> None:
    sign_in(client)
    for path in ("/board", "/inbox"):
        page = client.get(path).get_data(as_text=True)
        assert 'data-latest="/inbox/latest.json"' in page and 'id="notices-switch"' in page, path
    assert 'id="notices-switch"' not in client.get("/calls").get_data(as_text=True)
