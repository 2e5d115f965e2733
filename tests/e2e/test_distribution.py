"""Automatic distribution through the offline Twilio: free agents are rung without a button."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.serving import make_server

from app import create_app
from ivr.database import db
from ivr.models import Agent, AgentOffer, Presence, QueueEntry
from ivr.queues.agents import create_agent, set_presence
from ivr.queues.distribution import stop_distributor
from ivr.simulator import Caller, Press, Simulator
from ivr.simulator.agents import Agent as ScriptedAgent
from ivr.simulator.transport import HttpTransport
from tests.e2e.conftest import answered_again, simulator_for
from tests.factories import auth, csrf, make_token, menu_with, sign_in, until

PHONE = {"li": "+8613900000001", "wang": "+8613900000002", "kim": "+8613900000003"}


@pytest.fixture
def app_settings(app_settings: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The product queue rings agents for 10 s, away after two misses; payment is manual."""
    menu = menu_with(tmp_path, product="ring_timeout: 10; max_misses: 2",
                     payment="distribution: manual")  # fmt: skip
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


def agent(app: Flask, name: str) -> Agent:
    with app.app_context():
        row = db.session.scalars(select(Agent).where(Agent.name == name)).one()
        db.session.expunge(row)
        return row


def product_caller(n: int = 0) -> Caller:
    return Caller(number=f"+861380000000{n}", script=[Press("1"), Press("1")])


def test_a_caller_reaches_a_free_agent_without_anyone_pressing_take_next(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "li")
    result = live_phone.start(product_caller()).result(timeout=90)
    assert result.errors == [], result.transcript_text()
    assert result.queue_result == "redirected" and result.talked_with() == PHONE["li"]
    token = make_token(app)
    record = client.get(f"/api/v1/calls/{result.sid}", headers=auth(token)).json
    assert record["outcome"] == "agent"
    bridged = [e for e in record["events"] if e["kind"] == "bridged"]
    assert len(bridged) == 1 and bridged[0]["detail"]["agent"] == "li"
    # Rung as the caller's first hold music was asked for, not after someone pressed a button:
    # in real seconds (simulated time runs 50 times faster, so a loaded machine stretches it).
    with app.app_context():
        entry = db.session.scalars(select(QueueEntry)).one()
        assert entry.offered_at is not None
        assert (entry.offered_at - entry.entered_at).total_seconds() < 5


@pytest.mark.slow  # seconds of real time: the quick loop leaves it to the full run
def test_an_offer_that_rings_out_goes_to_the_next_agent_and_misses_add_up(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "wang", answers=False)  # free longest: offered first
    staff(app, live_phone, "li")
    first = live_phone.start(product_caller(0)).result(timeout=120)
    assert first.errors == [], first.transcript_text()
    assert first.queue_result == "redirected" and first.talked_with() == PHONE["li"]
    wang = agent(app, "wang")
    assert wang.missed_offers == 1 and wang.presence == Presence.AVAILABLE
    # li is talking or wrapping up with nobody else free: the next caller rings wang again,
    # who misses a second time in a row and is set away; li takes the caller after the talk.
    second = live_phone.start(product_caller(1)).result(timeout=180)
    assert second.queue_result == "redirected" and second.talked_with() == PHONE["li"]
    wang = agent(app, "wang")
    assert wang.missed_offers == 2 and wang.presence == Presence.AWAY
    # wang's board says why, in wang's language, until wang is back.
    sign_in(client, "wang", "password1")
    board = client.get("/board", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert "您连续 2 次未接听分配给您的来电，已被设为离开" in board
    client.post(
        "/board/presence", data={"presence": "available", "csrf_token": csrf(client, "/board")}
    )
    assert agent(app, "wang").presence == Presence.AVAILABLE
    assert "missed-notice" not in client.get("/board").get_data(as_text=True)


def test_an_agent_who_becomes_available_is_rung_for_the_caller_waiting(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "li", presence=Presence.BUSY)  # signed in, on another task
    handle = live_phone.start(product_caller())
    until(lambda: len(live_phone.queue_sids("product-zh")) == 1)
    time.sleep(0.3)  # a few hold-music loops: nobody is free, nobody is rung
    assert agent(app, "li").presence == Presence.BUSY
    token = make_token(app)
    reply = client.post(
        "/api/v1/agents/li/presence", json={"presence": "available"}, headers=auth(token)
    )
    assert reply.status_code == 200
    result = handle.result(timeout=90)
    assert result.queue_result == "redirected" and result.talked_with() == PHONE["li"]


def test_a_manual_queue_still_waits_for_take_next(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    with app.app_context():
        create_agent(db.session, "kim", password="password1", phone=PHONE["kim"],
                     languages=["zh"], topics=["payment"])  # fmt: skip
        set_presence(db.session.scalars(select(Agent)).one(), Presence.AVAILABLE)
        db.session.commit()
    live_phone.add_agent(ScriptedAgent(PHONE["kim"], answer_after=1.0, talk_seconds=5))
    handle = live_phone.start(Caller(number="+8613800000009", script=[Press("1"), Press("3")]))
    until(lambda: len(live_phone.queue_sids("payment-zh")) == 1)
    time.sleep(0.5)
    assert agent(app, "kim").presence == Presence.AVAILABLE  # not rung: payment is manual
    token = make_token(app)
    offer = client.post("/api/v1/agents/kim/take-next", headers=auth(token)).json["offer"]
    assert offer is not None
    assert handle.result(timeout=90).talked_with() == PHONE["kim"]


@pytest.mark.slow  # a dozen callers through two app instances: seconds of real time
@pytest.mark.postgres
def test_two_machines_on_one_database_offer_each_caller_once_and_each_agent_one_at_a_time(
    app: Flask, app_settings: dict[str, Any], live_server: str, media: Any
) -> None:
    """A second app instance on the same database (another machine behind the load balancer):
    Twilio's requests alternate between the two, and each distributes over the whole database."""
    other = create_app(app_settings)
    server = make_server("127.0.0.1", 0, other, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    machines = [HttpTransport(live_server), HttpTransport(f"http://127.0.0.1:{server.server_port}")]
    served = [0, 0]

    class Balancer:
        """Each request to the next machine in turn."""

        def post(self, path_and_query: str, form: dict[str, str], headers: dict[str, str]) -> Any:
            n = sum(served) % 2
            served[n] += 1
            return machines[n].post(path_and_query, form, headers)

    phone = simulator_for(Balancer(), media, time_scale=0.02)
    try:
        for name in ("li", "wang", "kim"):
            staff(app, phone, name)
        handles = [phone.start(product_caller(n)) for n in range(9)]
        results = [h.result(timeout=240) for h in handles]
    finally:
        phone.close()
        stop_distributor(other)
        server.shutdown()
        thread.join(timeout=5)
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
    assert all(r.errors == [] for r in results), [r.errors for r in results]
    assert {r.talked_with() for r in results} <= set(PHONE.values())
    assert all(r.talked_with() for r in results)
    assert min(served) > 50  # both machines did their share
    with app.app_context():
        offers = db.session.scalars(select(AgentOffer).order_by(AgentOffer.offered_at)).all()
        answered = [o for o in offers if o.outcome == "answered"]
        assert len(answered) == 9 + answered_again(db.session, offers)
        for agent_id in {o.agent_id for o in offers}:
            mine = [o for o in offers if o.agent_id == agent_id]
            for earlier, later in itertools.pairwise(mine):
                # An agent's next offer starts after the last one ended: never two at once.
                assert earlier.ended_at is not None and earlier.ended_at <= later.offered_at
