"""Whom automatic distribution rings, through the offline Twilio: in turn on a round-robin queue,
only agents with the caller's language and topic, and call-back requests in their place."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.database import db
from ivr.models import (
    Agent,
    AgentOffer,
    EntryState,
    OfferOutcome,
    Presence,
    PresenceChange,
    QueueEntry,
)
from ivr.queues.agents import create_agent, set_presence
from ivr.queues.entries import OFFERABLE
from ivr.simulator import Caller, Press, RecordingServer, Simulator
from ivr.simulator.agents import Agent as ScriptedAgent
from ivr.simulator.transport import HttpTransport
from tests.e2e.conftest import answered_again, simulator_for
from tests.e2e.test_distribution import PHONE, agent, product_caller
from tests.factories import auth, make_token, menu_with, until

CUSTOMER = "+8613811112222"  # asks to be called back


@pytest.fixture
def strategy() -> str:
    """The product queue's strategy, unless a test is parametrized with another."""
    return "longest_idle"


@pytest.fixture
def app_settings(app_settings: dict[str, Any], tmp_path: Path, strategy: str) -> dict[str, Any]:
    """The product queue rings agents by ``strategy``; no wrap-up."""
    menu = menu_with(tmp_path, product=f"strategy: {strategy}")
    app_settings.update(HOTLINE_MENU=menu, HOTLINE_WRAPUP_SECONDS=0)
    return app_settings


def staff(app: Flask, phone: Simulator, name: str, languages: list[str], topics: list[str],
          presence: Presence = Presence.AVAILABLE, answers: bool = True) -> None:  # fmt: skip
    """An agent with these skills, and the scripted person at their phone."""
    with app.app_context():
        row = create_agent(db.session, name, password="password1", phone=PHONE[name],
                           languages=languages, topics=topics)  # fmt: skip
        set_presence(row, presence)
        db.session.commit()
    phone.add_agent(ScriptedAgent(PHONE[name], answer_after=1.0, talk_seconds=10, answers=answers))


def offered(app: Flask) -> list[tuple[str, str, OfferOutcome | None]]:
    """Every offer so far, first first: (agent, caller's call SID, outcome)."""
    with app.app_context():
        rows = db.session.execute(
            select(Agent.name, QueueEntry.call_sid, AgentOffer.outcome)
            .select_from(AgentOffer)
            .join(Agent, Agent.id == AgentOffer.agent_id)
            .join(QueueEntry, QueueEntry.id == AgentOffer.entry_id)
            .order_by(AgentOffer.id)
        ).all()
    return [tuple(row) for row in rows]


def rings(app: Flask) -> list[tuple[str, str]]:
    """Each time an agent's phone was rung for a stay, first first: (agent, caller's call SID)."""
    with app.app_context():
        rows = db.session.execute(
            select(Agent.name, QueueEntry.call_sid)
            .select_from(PresenceChange)
            .join(Agent, Agent.id == PresenceChange.agent_id)
            .join(QueueEntry, QueueEntry.id == PresenceChange.entry_id)
            .where(PresenceChange.reason == "ringing")
            .order_by(PresenceChange.began_at, PresenceChange.id)
        ).all()
    return [tuple(row) for row in rows]


def rung(phone: Simulator, number: str) -> bool:
    """Whether the simulated Twilio ever called ``number``."""
    with phone.lock:
        return any(h.run.party == number for h in phone.handles)


def free_again(app: Flask, name: str) -> bool:
    return agent(app, name).presence == Presence.AVAILABLE


@pytest.mark.slow  # three callers one after another, twice: seconds of real time
@pytest.mark.postgres  # the order agents are rung in: NULLs sort otherwise on PostgreSQL
@pytest.mark.parametrize(
    ("strategy", "turns"),
    [("round_robin", ["li", "wang", "li"]), ("longest_idle", ["li", "li", "wang"])],
)
def test_a_round_robin_queue_rings_agents_in_turn_where_longest_idle_would_not(
    app: Flask, client: FlaskClient, live_phone: Simulator, strategy: str, turns: list[str]
) -> None:
    staff(app, live_phone, "li", ["zh"], ["product"])
    staff(app, live_phone, "wang", ["zh"], ["product"], presence=Presence.AWAY)
    first = live_phone.start(product_caller(0)).result(timeout=90)
    assert first.errors == [], first.transcript_text()
    until(lambda: free_again(app, "li"))
    # wang comes in after li's first conversation ended: li has been free longer, but wang has
    # not been offered a caller yet.
    time.sleep(0.05)
    reply = client.post("/api/v1/agents/wang/presence", json={"presence": "available"},
                        headers=auth(make_token(app)))  # fmt: skip
    assert reply.status_code == 200
    results = [first]
    for n in (1, 2):
        results.append(live_phone.start(product_caller(n)).result(timeout=90))
        assert results[-1].errors == [], results[-1].transcript_text()
        until(lambda: free_again(app, "li") and free_again(app, "wang"))
    assert [r.talked_with() for r in results] == [PHONE[name] for name in turns]
    assert offered(app) == [
        (name, r.sid, OfferOutcome.ANSWERED) for name, r in zip(turns, results, strict=True)
    ]


def test_a_caller_is_offered_only_to_an_agent_with_their_language_and_topic(
    app: Flask, live_phone: Simulator
) -> None:
    # Free longest first: each ineligible agent would be rung before kim if skills were ignored.
    staff(app, live_phone, "li", ["zh"], ["after_sales"])  # the topic, not the language
    staff(app, live_phone, "wang", ["en"], ["product"])  # the language, not the topic
    staff(app, live_phone, "kim", ["zh", "en"], ["product", "after_sales"])
    caller = Caller(number="+14155550123", script=[Press("2"), Press("4")])  # English, after-sales
    result = live_phone.start(caller).result(timeout=90)
    assert result.errors == [], result.transcript_text()
    assert result.queue_result == "redirected" and result.talked_with() == PHONE["kim"]
    assert offered(app) == [("kim", result.sid, OfferOutcome.ANSWERED)]
    assert not rung(live_phone, PHONE["li"]) and not rung(live_phone, PHONE["wang"])
    with app.app_context():
        entry = db.session.scalars(select(QueueEntry)).one()
        assert (entry.queue, entry.topic, entry.language) == ("after_sales-en", "after_sales", "en")
    assert agent(app, "li").presence == agent(app, "wang").presence == Presence.AVAILABLE


@pytest.mark.slow  # a call-back and a conversation one after the other: seconds of real time
def test_a_call_back_request_keeps_its_place_before_a_later_caller(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "li", ["zh"], ["product"], presence=Presence.BUSY)
    live_phone.add_agent(ScriptedAgent(CUSTOMER, answer_after=1.0, talk_seconds=10))
    asked = live_phone.call(Caller(number=CUSTOMER, script=[Press("1"), Press("1"), Press("2")]))
    assert asked.errors == [] and asked.queue_result == "leave", asked.transcript_text()
    later = live_phone.start(product_caller(1))
    until(lambda: len(live_phone.queue_sids("product-zh")) == 1 and len(waiting(app)) == 2)
    time.sleep(0.3)  # a few hold-music loops: li is busy, nobody is rung
    assert offered(app) == []
    reply = client.post("/api/v1/agents/li/presence", json={"presence": "available"},
                        headers=auth(make_token(app)))  # fmt: skip
    assert reply.status_code == 200
    result = later.result(timeout=90)
    assert result.errors == [], result.transcript_text()
    assert result.talked_with() == PHONE["li"]
    # li was rung for the call-back first (a call-back is the agent calling out, not an offer
    # in agent_offers), talked with the customer, then was offered the later caller.
    assert rings(app) == [("li", asked.sid), ("li", later.sid)]
    assert offered(app) == [("li", later.sid, OfferOutcome.ANSWERED)]
    until(lambda: any(r.to == CUSTOMER and r.status == "completed"
                      for r in live_phone.outbound_results))  # fmt: skip
    with app.app_context():
        called_back, taken = db.session.scalars(select(QueueEntry).order_by(QueueEntry.id)).all()
        assert called_back.state == EntryState.DONE and called_back.leave_reason == "callback"
        assert called_back.entered_at < taken.entered_at
        assert called_back.offered_at is not None and taken.offered_at is not None
        assert called_back.offered_at < taken.offered_at


def waiting(app: Flask) -> list[QueueEntry]:
    """The product queue's stays that may be offered (waiting or asking for a call-back)."""
    with app.app_context():
        rows = db.session.scalars(
            select(QueueEntry).where(QueueEntry.state.in_(OFFERABLE), QueueEntry.agent_id.is_(None))
        ).all()
        db.session.expunge_all()
        return list(rows)


class OwnConnections:
    """Each webhook on a connection of its own, as Twilio sends them: a kept-alive connection
    would hold every request to the one process that accepted it."""

    def __init__(self, base_url: str) -> None:
        self.http = HttpTransport(base_url)

    def post(self, path_and_query: str, form: dict[str, str], headers: dict[str, str]) -> Any:
        return self.http.post(path_and_query, form, {**headers, "Connection": "close"})


@pytest.mark.gunicorn
@pytest.mark.slow  # nine callers through two server processes: seconds of real time
def test_two_gunicorn_processes_on_one_database_never_offer_twice_at_once(
    app: Flask, gunicorn: str, media: RecordingServer, tmp_path: Path
) -> None:
    """The Procfile's web processes share one database (SQLite's file unless DATABASE_URL says
    otherwise), each with its own distributor ticking and woken by its own requests."""
    phone = simulator_for(OwnConnections(gunicorn), media, time_scale=0.02)
    try:
        # wang's phone rings out: those callers are offered again, to li or kim.
        for name in PHONE:
            staff(app, phone, name, ["zh"], ["product"], answers=name != "wang")
        handles = [phone.start(product_caller(n)) for n in range(9)]
        results = [h.result(timeout=240) for h in handles]
    finally:
        phone.close()
    assert all(r.errors == [] for r in results), [r.errors for r in results]
    assert {r.talked_with() for r in results} == {PHONE["li"], PHONE["kim"]}
    with app.app_context():
        offers = db.session.scalars(select(AgentOffer).order_by(AgentOffer.offered_at)).all()
        again = answered_again(db.session, offers)
    assert len({o.entry_id for o in offers}) == 9
    answered = [o.entry_id for o in offers if o.outcome == OfferOutcome.ANSWERED]
    assert set(answered) == {o.entry_id for o in offers} and len(answered) == 9 + again
    assert any(o.outcome == OfferOutcome.MISSED for o in offers)  # wang's, offered on
    for key in ("agent_id", "entry_id"):
        # An agent never holds two offers, and a caller is never offered to two agents, at once:
        # each one's next offer starts after the last one ended.
        for one in {getattr(o, key) for o in offers}:
            theirs = [o for o in offers if getattr(o, key) == one]
            for earlier, later in itertools.pairwise(theirs):
                assert earlier.ended_at is not None and earlier.ended_at <= later.offered_at
    # Both processes served the calls: each keeps its metrics in a file named by its pid.
    pids = {path.stem.rsplit("_", 1)[-1] for path in (tmp_path / "metrics").glob("*.db")}
    assert len(pids) >= 2, pids
