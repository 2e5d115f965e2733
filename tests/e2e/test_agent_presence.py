"""Presence and figures per agent through the offline Twilio: a shift's offers, answers and
misses as the figures count them, and an agent whose session ran out is set away and not rung."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import Agent, AgentOffer, Presence, Role
from ivr.queues.agents import create_agent, set_presence
from ivr.simulator import Caller, Press, Simulator
from ivr.simulator.agents import Agent as ScriptedAgent
from tests.factories import csrf, menu_with, sign_in, until

PHONE = {"li": "+8613900000001", "wang": "+8613900000002"}


@pytest.fixture
def app_settings(app_settings: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The product queue rings agents for 10 s and sets them away after two misses."""
    menu = menu_with(tmp_path, product="ring_timeout: 10; max_misses: 2")
    app_settings.update(HOTLINE_MENU=menu, HOTLINE_WRAPUP_SECONDS=0)
    return app_settings


def staff(app: Flask, phone: Simulator, name: str, *, answers: bool = True,
          presence: Presence = Presence.AVAILABLE) -> None:  # fmt: skip
    """An agent for Chinese product questions, and the scripted person at their phone."""
    with app.app_context():
        agent = create_agent(db.session, name, password="password1", phone=PHONE[name],
                             languages=["zh"], topics=["product"])  # fmt: skip
        set_presence(agent, presence)
        db.session.commit()
    phone.add_agent(ScriptedAgent(PHONE[name], answer_after=1.0, answers=answers, talk_seconds=20))


def supervisor(app: Flask) -> None:
    with app.app_context():
        create_agent(db.session, "zhang", password="password1", role=Role.SUPERVISOR)
        db.session.commit()


def agent(app: Flask, name: str) -> Agent:
    with app.app_context():
        row = db.session.scalars(select(Agent).where(Agent.name == name)).one()
        db.session.expunge(row)
        return row


def product_caller(n: int) -> Caller:
    return Caller(number=f"+861380000000{n}", script=[Press("1"), Press("1")])


def csv_rows(client: FlaskClient, path: str, key: str) -> dict[str, dict[str, str]]:
    text = client.get(f"{path}?header=keys").get_data(as_text=True).lstrip("\ufeff")
    return {row[key]: row for row in csv.DictReader(io.StringIO(text))}


@pytest.mark.slow  # seconds of real time: the quick loop leaves it to the full run
def test_a_shift_s_figures_per_agent_match_the_calls_made(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "wang", answers=False)  # free longest: rung first, never answers
    staff(app, live_phone, "li")
    supervisor(app)
    results = [live_phone.start(product_caller(n)).result(timeout=180) for n in range(3)]
    assert [r.errors for r in results] == [[], [], []], results[0].transcript_text()
    assert [r.talked_with() for r in results] == [PHONE["li"]] * 3
    # wang was rung for the first two callers and missed both (then set away); li took all three.
    assert agent(app, "wang").presence == Presence.AWAY
    sign_in(client, "zhang", "password1")
    agents = csv_rows(client, "/export/agents.csv", "agent")
    got = {name: (row["offered"], row["answered"], row["missed"]) for name, row in agents.items()}
    assert got == {"li": ("3", "3", "0"), "wang": ("2", "0", "2")}
    assert int(agents["li"]["talk"]) > 0
    queue = csv_rows(client, "/export/queues.csv", "queue")["product-zh"]
    assert (queue["callers"], queue["answered"], queue["offered"], queue["missed"]) == (
        "3", "3", "5", "2")  # fmt: skip
    page = client.get("/board").get_data(as_text=True)
    assert 'data-reason="missed"' in page  # wang: away after missing


@pytest.mark.slow  # waits for the distributor's tick
def test_an_agent_whose_session_ran_out_is_set_away_by_the_tick_and_not_rung(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "li", presence=Presence.AWAY)
    sign_in(client, "li", "password1")
    client.post("/board/presence",
                data={"presence": "available", "csrf_token": csrf(client, "/board")})  # fmt: skip
    assert agent(app, "li").session_expires_at is not None
    staff(app, live_phone, "wang")  # available after li: li is free longest and would go first
    with app.app_context():
        li = db.session.scalars(select(Agent).where(Agent.name == "li")).one()
        li.session_expires_at = utcnow() - timedelta(seconds=1)  # the shift's session is over
        db.session.commit()
    until(lambda: agent(app, "li").presence == Presence.AWAY, timeout=10)
    result = live_phone.start(product_caller(0)).result(timeout=90)
    assert result.errors == [], result.transcript_text()
    assert result.talked_with() == PHONE["wang"]
    with app.app_context():
        rung = db.session.scalars(select(AgentOffer.agent_id)).all()
        assert rung == [agent(app, "wang").id]
