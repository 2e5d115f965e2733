"""Wrap-ups: filed on the call once per agent (saving again replaces it), through the plain
functions, the board's form, the call page, the calls CSV and the API."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from ivr.clock import utcnow
from ivr.database import db
from ivr.hotline import hotline
from ivr.models import Agent, Call, EntryState, Outcome, Presence, QueueEntry, Role, Wrapup
from ivr.queues.agents import AgentError, create_agent, finish_call, ready, set_presence
from ivr.queues.wrapups import save_wrapup, to_wrap_up
from tests.factories import auth, csrf, make_token, sign_in

SID = "CA" + "7" * 32
OTHER_SID = "CA" + "8" * 32

pytestmark = pytest.mark.usefixtures("manual_queues")  # stays set by hand


def staff(app: Flask, name: str = "li", role: Role = Role.AGENT) -> None:
    with app.app_context():
        create_agent(db.session, name, password="password1", phone="+8613900000001",
                     languages=["zh"], topics=["product"], role=role)  # fmt: skip
        db.session.commit()


def talked(app: Flask, name: str = "li", sid: str = SID, *, wrapup: float = 600) -> None:
    """A caller talked to the agent, and the talk is over: the agent is in wrap-up."""
    with app.app_context():
        agent = db.session.scalars(select(Agent).where(Agent.name == name)).one()
        call = Call(sid=sid, from_number="+8613800001111", status="completed",
                    outcome=Outcome.AGENT, language="zh")  # fmt: skip
        db.session.add(call)
        db.session.flush()
        now = utcnow()
        db.session.add(QueueEntry(
            call_id=call.id, call_sid=sid, queue="product-zh", topic="product", language="zh",
            node="product", state=EntryState.DONE, agent_id=agent.id, offered_at=now,
            bridged_at=now, entered_at=now - timedelta(seconds=30), talk_seconds=20,
        ))  # fmt: skip
        set_presence(agent, Presence.BUSY, "talking")  # as they were while talking
        finish_call(agent, wrapup)
        db.session.commit()


def wrapups(app: Flask) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(Call.sid, Wrapup.disposition, Wrapup.note).join(Call, Call.id == Wrapup.call_id)
        )
        return sorted(tuple(row) for row in rows)


def agent_row(app: Flask, name: str = "li") -> Agent:
    with app.app_context():
        row = db.session.scalars(select(Agent).where(Agent.name == name)).one()
        db.session.expunge(row)
        return row


def test_saving_again_replaces_the_wrapup_and_ends_the_wrapup_time(app: Flask) -> None:
    staff(app)
    talked(app)
    assert not ready(agent_row(app), utcnow())  # wrapping up for ten minutes
    with app.app_context():
        call = db.session.scalars(select(Call)).one()
        li = db.session.scalars(select(Agent)).one()
        save_wrapup(db.session, call, li, hotline().menu, disposition="follow_up", note=" first ")
        db.session.commit()
        save_wrapup(db.session, call, li, hotline().menu, disposition="refund", note="refunded")
        db.session.commit()
    assert wrapups(app) == [(SID, "refund", "refunded")]
    li = agent_row(app)
    assert li.presence == Presence.AVAILABLE and ready(li, utcnow())


@pytest.mark.parametrize(
    ("name", "disposition", "problem"),
    [
        ("wang", "resolved", "wang did not talk to this caller"),
        ("li", "resolvd", "unknown disposition 'resolvd'; the menu has resolved, follow_up"),
        ("li", "", "choose a disposition: resolved, follow_up"),
    ],
)
def test_a_wrapup_is_refused_for_a_stranger_or_a_code_the_menu_lacks(
    app: Flask, name: str, disposition: str, problem: str
) -> None:
    staff(app)
    staff(app, "wang")
    talked(app)
    with app.app_context():
        call = db.session.scalars(select(Call)).one()
        agent = db.session.scalars(select(Agent).where(Agent.name == name)).one()
        with pytest.raises(AgentError, match=problem):
            save_wrapup(db.session, call, agent, hotline().menu, disposition=disposition, note="")
    assert wrapups(app) == []


def test_the_form_waits_for_the_last_conversation_and_goes_once_filed(app: Flask) -> None:
    staff(app)
    with app.app_context():
        assert to_wrap_up(db.session, db.session.scalars(select(Agent)).one()) is None
    talked(app, sid=SID)
    talked(app, sid=OTHER_SID)
    with app.app_context():
        li = db.session.scalars(select(Agent)).one()
        assert to_wrap_up(db.session, li).call_sid == OTHER_SID  # the latest talk
        set_presence(li, Presence.BUSY)  # on the phone again: no form meanwhile
        assert to_wrap_up(db.session, li) is None
        set_presence(li, Presence.AVAILABLE)
        call = db.session.scalars(select(Call).where(Call.sid == OTHER_SID)).one()
        save_wrapup(db.session, call, li, hotline().menu, disposition="resolved", note="")
        db.session.commit()
        assert to_wrap_up(db.session, li) is None


def test_the_board_form_saves_once_on_a_double_submit_in_both_languages(
    app: Flask, client: FlaskClient
) -> None:
    staff(app)
    sign_in(client, "li", "password1")
    assert 'id="wrapup"' not in client.get("/board").get_data(as_text=True)
    assert client.get("/board/wrapup.json").json == {"call": None}
    talked(app)
    assert client.get("/board/wrapup.json").json == {"call": SID}
    zh = client.get("/board", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert '<option value="order_issue">订单问题</option>' in zh and "保存小结" in zh
    en = client.get("/board", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<option value="order_issue">Order problem</option>' in en and "Save wrap-up" in en
    form = {"csrf_token": csrf(client, "/board"), "back": "board",
            "disposition": "order_issue", "note": "wrong size sent"}  # fmt: skip
    for _ in range(2):
        reply = client.post(f"/calls/{SID}/wrapup", data=form)
        assert reply.status_code == 302 and reply.location.endswith("/board")
    assert wrapups(app) == [(SID, "order_issue", "wrong size sent")]
    with app.app_context():
        assert db.session.scalar(select(func.count(Wrapup.id))) == 1
    board = client.get("/board", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Wrap-up saved." in board and 'id="wrapup"' not in board
    assert ready(agent_row(app), utcnow())


def test_the_call_page_shows_the_wrapup_and_lets_its_agent_change_it(
    app: Flask, client: FlaskClient
) -> None:
    staff(app)
    staff(app, "wang")
    talked(app)
    sign_in(client, "li", "password1")
    token = csrf(client, f"/calls/{SID}")
    client.post(f"/calls/{SID}/wrapup", data={"csrf_token": token, "back": "call",
                                              "disposition": "refund", "note": "退款已批准"})  # fmt: skip
    page = client.get(f"/calls/{SID}", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert "<b>退款</b> · 退款已批准" in page
    assert '<option value="refund" selected>退款</option>' in page  # li's own, to change
    reply = client.post(f"/calls/{SID}/wrapup", data={"csrf_token": token, "back": "call",
                                                      "disposition": "complaint", "note": ""})  # fmt: skip
    assert reply.location.endswith(f"/calls/{SID}")
    assert wrapups(app) == [(SID, "complaint", "")]
    page = client.get(f"/calls/{SID}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "<b>Complaint</b>" in page
    # Another agent sees it but has no form: they did not talk to this caller, and may not file.
    client.post("/logout", data={"csrf_token": token})
    sign_in(client, "wang", "password1")
    page = client.get(f"/calls/{SID}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "<b>Complaint</b>" in page and 'id="wrapup"' not in page
    token = csrf(client, f"/calls/{SID}")
    refused = client.post(f"/calls/{SID}/wrapup", data={"csrf_token": token, "back": "call",
                                                        "disposition": "resolved"},
                          headers={"Accept-Language": "en"}, follow_redirects=True)  # fmt: skip
    assert "wang did not talk to this caller" in refused.get_data(as_text=True)
    assert wrapups(app) == [(SID, "complaint", "")]


def test_the_api_files_a_wrapup_and_shows_it_on_the_call_and_in_the_csv(
    app: Flask, client: FlaskClient
) -> None:
    staff(app)
    staff(app, "boss", Role.SUPERVISOR)
    talked(app)
    url = f"/api/v1/calls/{SID}/wrapup"
    body = {"agent": "li", "disposition": "delivery", "note": "parcel lost, =resent"}
    reader = make_token(app, "reader", "read")
    assert client.post(url, json=body, headers=auth(reader)).status_code == 403
    writer = make_token(app, "writer", "read,write")
    refusals = [
        (f"/api/v1/calls/{OTHER_SID}/wrapup", body, 404),
        (url, {**body, "agent": "nobody"}, 404),
        (url, {**body, "agent": "boss"}, 409),  # did not talk to this caller
        (url, {**body, "disposition": "lost"}, 400),
        (url, {"agent": "li"}, 400),
    ]
    for path, sent, status in refusals:
        reply = client.post(path, json=sent, headers=auth(writer))
        assert reply.status_code == status, (sent, reply.json)
    assert wrapups(app) == []
    for _ in range(2):
        reply = client.post(url, json=body, headers=auth(writer))
        assert reply.status_code == 200
    assert reply.json["agent"] == "li" and reply.json["disposition"] == "delivery"
    assert ready(agent_row(app), utcnow())
    record = client.get(f"/api/v1/calls/{SID}", headers=auth(reader)).json
    assert [(w["agent"], w["disposition"], w["note"]) for w in record["wrapups"]] == [
        ("li", "delivery", "parcel lost, =resent")
    ]
    listed = client.get("/api/v1/calls", headers=auth(reader)).json["data"]
    assert [w["disposition"] for w in listed[0]["wrapups"]] == ["delivery"]

    sign_in(client, "boss", "password1")
    text = (
        client.get("/export/calls.csv?range=today&header=keys")
        .get_data(as_text=True)
        .lstrip("\ufeff")
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    row = next(r for r in rows if r["sid"] == SID)
    # A note that starts like a formula is kept inert for spreadsheets.
    assert (row["disposition"], row["wrapup_agent"]) == ("delivery", "li")
    assert row["wrapup_note"] == "parcel lost, =resent"


def test_a_callback_the_agent_made_is_wrapped_up_like_a_call_they_took(app: Flask) -> None:
    staff(app)
    talked(app, sid=SID)
    with app.app_context():  # then li called back a customer who had asked for it
        li = db.session.scalars(select(Agent)).one()
        call = Call(sid=OTHER_SID, from_number="+8613800003333", status="completed",
                    outcome=Outcome.CALLBACK, language="zh")  # fmt: skip
        db.session.add(call)
        db.session.flush()
        now = utcnow()
        db.session.add(QueueEntry(
            call_id=call.id, call_sid=OTHER_SID, queue="product-zh", topic="product",
            language="zh", node="product", state=EntryState.DONE, agent_id=li.id,
            entered_at=now - timedelta(minutes=20), offered_at=now, talk_seconds=40,
        ))  # fmt: skip
        finish_call(li, 600)
        db.session.commit()
        assert to_wrap_up(db.session, li).call_sid == OTHER_SID
        save_wrapup(db.session, call, li, hotline().menu, disposition="resolved", note="")
        db.session.commit()
        assert ready(li, utcnow())
