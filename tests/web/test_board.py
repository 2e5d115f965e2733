"""The live board and the call log through the test client (signed in as an agent)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from ivr.database import db
from ivr.models import Agent, Call, EntryState, QueueEntry, Role
from ivr.queues.agents import create_agent
from tests.conftest import Twilio
from tests.factories import (
    SID,
    add_agent,
    agent,
    call_params,
    csrf,
    sign_in,
    to_queue,
    wait_loop,
)

pytestmark = pytest.mark.usefixtures("manual_queues")  # stays set by hand


def test_board_shows_queues_and_switches_presence(app: Flask, client: FlaskClient) -> None:
    agent(app)
    assert client.get("/board").status_code == 302
    sign_in(client)
    page = client.get("/board").get_data(as_text=True)
    assert 'data-queue="product-zh"' in page
    token = csrf(client, "/board")
    client.post("/board/presence", data={"csrf_token": token, "presence": "available"})
    data = client.get("/board.json").json
    assert data["presence"] == "available"
    product = next(q for q in data["queues"] if q["queue"] == "product-zh")
    assert product["agents_available"] == 1
    reply = client.post("/board/take-next", data={"csrf_token": token}, follow_redirects=True)
    assert "Nobody is waiting for you." in reply.get_data(as_text=True)


def test_call_log_and_timeline(app: Flask, client: FlaskClient, twilio: Twilio) -> None:
    agent(app)
    twilio.post("/voice/incoming", call_params(From="+8613912340000"))
    twilio.post("/voice/input/language?s=1&a=0", call_params(Digits="2"))
    twilio.post("/voice/status", call_params(CallStatus="completed", CallDuration="33"))
    sign_in(client)
    listing = client.get("/calls?number=0000").get_data(as_text=True)  # the end li sees
    assert re.findall(r'data-sid="(\w+)"', listing) == [SID]
    assert client.get("/calls?outcome=agent").get_data(as_text=True).count("data-sid=") == 0
    page = client.get(f"/calls/{SID}").get_data(as_text=True)
    assert "language choice › main menu" in page
    assert "Pressed 2, chose English" in page
    assert "33 s" in page
    assert client.get("/calls/CAnothing").status_code == 404


def test_calls_by_agent(app: Flask, client: FlaskClient, twilio: Twilio) -> None:
    agent(app)
    twilio.post("/voice/incoming", call_params())
    sign_in(client)
    assert client.get("/calls").get_data(as_text=True).count("data-sid=") == 1
    assert (
        client.get("/calls?agent=li").get_data(as_text=True).count("data-sid=") == 0
    )  # li served nobody


def test_a_message_page_shows_its_calls_timeline(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    agent(app)
    twilio.post("/voice/incoming", call_params())
    twilio.post("/voice/input/language?s=1&a=0", call_params(Digits="2"))
    twilio.post("/voice/input/main?s=2&a=0&lang=en", call_params(Digits="9"))
    record = {"RecordingSid": "RE" + "5" * 32, "RecordingUrl": "https://api.twilio.com/x/RE" + "5" * 32,
              "RecordingDuration": "4", "Digits": "#"}  # fmt: skip
    twilio.post("/voice/voicemail/recorded?node=message&lang=en&s=3", call_params(**record))
    sign_in(client)
    inbox = client.get("/inbox").get_data(as_text=True)
    ident = re.search(r'data-id="(\d+)"', inbox)
    assert ident
    page = client.get(f"/inbox/{ident.group(1)}").get_data(as_text=True)
    assert "The call · language choice › main menu › leave a message" in page
    assert "Pressed 9, chose leave a message" in page
    assert "Left a message of 4 s (general question), case" in page


def test_the_call_log_picks_a_day_in_the_agents_time_zone(app: Flask, client: FlaskClient) -> None:
    agent(app)
    with app.app_context():
        for n, at in enumerate(["2026-11-20 15:30", "2026-11-20 17:30", "2026-11-21 16:30"]):
            started = datetime.fromisoformat(at).replace(tzinfo=UTC)
            db.session.add(Call(sid=f"CA{n:032d}", status="completed", started_at=started))
        db.session.commit()
    sign_in(client, "li")  # in China time, the call centre's
    listing = client.get("/calls?date=2026-11-21").get_data(as_text=True)
    assert re.findall(r'data-sid="(CA\d+)"', listing) == [f"CA{1:032d}"]
    assert "2026-11-21 01:30" in listing
    for edge in ("0001-01-01", "9999-12-31", "2026-02-30"):
        reply = client.get(f"/calls?date={edge}")
        assert reply.status_code == 200 and "2026-11-24" in reply.get_data(as_text=True), edge


def test_the_call_log_searches_numbers_literally(app: Flask, client: FlaskClient) -> None:
    agent(app)
    with app.app_context():
        create_agent(db.session, "boss", password="correct horse", role=Role.SUPERVISOR)
        for n, number in enumerate(["+8613912345678", "+86\\1_8"]):
            db.session.add(Call(sid=f"CA{n:032d}", from_number=number, status="completed"))
        db.session.commit()

    def found(reader: FlaskClient, query: str) -> list[str]:
        listing = reader.get(f"/calls?{query}").get_data(as_text=True)
        return re.findall(r'data-sid="(CA\d+)"', listing)

    sign_in(client, "boss")
    # Wildcards are no digits: they find nothing rather than everything.
    assert [found(client, q) for q in ("number=%25", "number=_", "number=%5C1_")] == [[], [], []]
    assert found(client, "number=1234") == [f"CA{0:032d}"]
    masked = app.test_client()
    sign_in(masked, "li")  # sees +86 139****5678: the hidden digits find nothing
    assert found(masked, "number=1234") == [] and found(masked, "number=5678") == [f"CA{0:032d}"]


def test_the_live_board_answers_304_until_something_changes_and_pops_my_caller(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    sign_in(client, "li", "password1")
    first = client.get("/board/live.json")
    assert first.status_code == 200 and first.json["pop"] is None
    assert first.json["presence"] == "available" and first.headers["X-Server-Time"]
    tag = first.headers["ETag"]
    statements: list[str] = []
    with app.app_context():
        engine = db.engine
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        same = client.get("/board/live.json", headers={"If-None-Match": tag})
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert same.status_code == 304 and same.data == b""
    # Signing in (the session's agent) and the two queries of the state; nothing else.
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) <= 3
    wait_loop(twilio, to_queue(twilio))
    moved = client.get("/board/live.json", headers={"If-None-Match": tag})
    assert moved.status_code == 200 and moved.headers["ETag"] != tag
    product = next(q for q in moved.json["queues"] if q["queue"] == "product-zh")
    assert product["waiting"] == 1 and product["oldest_at"]
    with app.app_context():
        entry = db.session.scalars(select(QueueEntry)).one()
        entry.state = EntryState.OFFERED
        entry.agent_id = db.session.scalars(select(Agent.id).where(Agent.name == "li")).one()
        db.session.commit()
    pop = client.get("/board/live.json", headers={"Accept-Language": "zh"}).json["pop"]
    assert (pop["state"], pop["language"], pop["topic"]) == ("offered", "中文", "商品咨询")
    assert pop["call_url"] == f"/calls/{SID}" and pop["path"] == "语言选择 › 主菜单 › 商品咨询"
    english = client.get("/board/live.json").json["pop"]
    assert (english["language"], english["topic"]) == ("Chinese", "product question")
