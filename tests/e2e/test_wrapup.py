"""Wrap-up through the offline Twilio: after a talk the agent files a disposition on the call,
and saving it frees them for the caller waiting next, without waiting out the wrap-up time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import Agent, EntryState, Presence, QueueEntry
from ivr.queues.agents import create_agent, set_presence
from ivr.simulator import Caller, Press, Simulator
from ivr.simulator.agents import Agent as ScriptedAgent
from tests.factories import auth, csrf, make_token, menu_with, sign_in, until

LI = "+8613900000001"


@pytest.fixture
def app_settings(app_settings: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The shipped menu with the product queue ringing free agents by itself; ten minutes of
    wrap-up, far longer than the test runs."""
    path = menu_with(tmp_path, product="ring_timeout: 10")
    menu = Path(path).read_text(encoding="utf-8")
    assert "    max_wait: 600 " in menu
    menu = menu.replace("    max_wait: 600 ", "    max_wait: 3600 ")  # simulated seconds
    Path(path).write_text(menu, encoding="utf-8")
    app_settings.update(HOTLINE_MENU=path, HOTLINE_WRAPUP_SECONDS=600)
    return app_settings


def li(app: Flask) -> Agent:
    with app.app_context():
        row = db.session.scalars(select(Agent).where(Agent.name == "li")).one()
        db.session.expunge(row)
        return row


def wrapping_up(app: Flask) -> bool:
    agent = li(app)
    return agent.presence == Presence.AVAILABLE and (agent.wrapup_until or utcnow()) > utcnow()


def waiting(app: Flask) -> list[QueueEntry]:
    with app.app_context():
        rows = list(db.session.scalars(select(QueueEntry).where(QueueEntry.agent_id.is_(None))))
        db.session.expunge_all()
        return rows


def test_saving_the_wrapup_files_it_on_the_call_and_rings_the_agent_for_the_next_caller(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    with app.app_context():
        agent = create_agent(db.session, "li", password="password1", phone=LI,
                             languages=["zh"], topics=["product"])  # fmt: skip
        set_presence(agent, Presence.AVAILABLE)
        db.session.commit()
    live_phone.add_agent(ScriptedAgent(LI, answer_after=1.0, talk_seconds=20))
    product = [Press("1"), Press("1")]

    first = live_phone.start(Caller(number="+8613800000001", script=product)).result(timeout=90)
    assert first.errors == [], first.transcript_text()
    assert first.talked_with() == LI
    until(lambda: wrapping_up(app))

    # The next caller waits: li is wrapping up, and would be for ten minutes.
    second = live_phone.start(Caller(number="+8613800000002", script=product))
    until(lambda: len(live_phone.queue_sids("product-zh")) == 1)
    time.sleep(0.5)  # several distribution ticks and hold-music loops
    assert [e.state for e in waiting(app)] == [EntryState.WAITING]
    assert wrapping_up(app)

    # li's board asks for the wrap-up of the first call, the names in the page's language.
    sign_in(client, "li", "password1")
    zh = client.get("/board", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert f'data-call="{first.sid}"' in zh
    assert '<option value="order_issue">订单问题</option>' in zh
    en = client.get("/board", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<option value="order_issue">Order problem</option>' in en
    reply = client.post(f"/calls/{first.sid}/wrapup", data={
        "csrf_token": csrf(client, "/board"), "back": "board",
        "disposition": "order_issue", "note": "二号订单少发一件",
    })  # fmt: skip
    assert reply.status_code == 302

    # Saved on the call, and li is rung for the caller who waited: not ten minutes later.
    answered = second.result(timeout=60)
    assert answered.errors == [], answered.transcript_text()
    assert answered.queue_result == "redirected" and answered.talked_with() == LI
    token = make_token(app)
    record = client.get(f"/api/v1/calls/{first.sid}", headers=auth(token)).json
    assert [(w["agent"], w["disposition"], w["note"]) for w in record["wrapups"]] == [
        ("li", "order_issue", "二号订单少发一件")
    ]
    assert client.get(f"/api/v1/calls/{answered.sid}", headers=auth(token)).json["wrapups"] == []
    page = client.get(f"/calls/{first.sid}", headers={"Accept-Language": "zh"})
    assert "<b>订单问题</b> · 二号订单少发一件" in page.get_data(as_text=True)

    # After the second talk the board asks for that call's wrap-up, and the API can file it.
    until(lambda: wrapping_up(app))
    assert client.get("/board/wrapup.json").json == {"call": answered.sid}
    filed = client.post(f"/api/v1/calls/{answered.sid}/wrapup", headers=auth(token),
                        json={"agent": "li", "disposition": "resolved"})  # fmt: skip
    assert filed.status_code == 200
    assert client.get("/board/wrapup.json").json == {"call": None}
    assert not wrapping_up(app)
