"""Who is offered a caller first, and what a queue node's settings ask for."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import select

from ivr.callflow.menu_file import parse_menu
from ivr.clock import utcnow
from ivr.database import db
from ivr.models import Agent, Call, EntryState, Presence, QueueEntry
from ivr.queues.agents import set_presence
from ivr.queues.distribution import (
    TICK_SECONDS,
    QueueRules,
    automatic_topics,
    missed,
    next_tick,
    rules_for,
    start_distributor,
    turn_order,
)
from ivr.queues.entries import enter
from tests.factories import add_agent, default_raw, use_rest
from tests.loopback import RestCalls

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def agent(name: str, *, free: int, offered: int | None, wrapup: int | None = None) -> Agent:
    """An agent free since T0 + ``free`` s, last offered a caller at T0 + ``offered`` s."""
    row = Agent(name=name, presence_at=T0 + timedelta(seconds=free))
    row.id = len(name)
    row.last_offered_at = None if offered is None else T0 + timedelta(seconds=offered)
    row.wrapup_until = None if wrapup is None else T0 + timedelta(seconds=wrapup)
    row.missed_offers = 0
    return row


def test_the_agent_free_longest_goes_first_counting_wrap_up() -> None:
    li = agent("li", free=10, offered=5)
    wang = agent("wang", free=0, offered=8, wrapup=30)  # available earlier, wrapping up until 30
    kim = agent("kimm", free=20, offered=None)
    assert [a.name for a in turn_order([li, wang, kim], QueueRules())] == ["li", "kimm", "wang"]


def test_round_robin_goes_to_whoever_was_offered_a_caller_least_recently() -> None:
    li = agent("li", free=10, offered=5)
    wang = agent("wang", free=0, offered=8)
    kim = agent("kimm", free=20, offered=None)  # never offered: first
    rules = QueueRules(automatic=True, round_robin=True)
    assert [a.name for a in turn_order([li, wang, kim], rules)] == ["kimm", "li", "wang"]


def test_misses_in_a_row_set_the_agent_away_at_the_limit() -> None:
    li = agent("li", free=0, offered=None)
    rules = QueueRules(automatic=True, max_misses=2)
    assert missed(li, rules) == Presence.AVAILABLE and li.missed_offers == 1
    assert missed(li, rules) == Presence.AWAY and li.missed_offers == 2


def test_a_queue_node_is_automatic_unless_it_says_manual() -> None:
    raw = default_raw()
    menu = parse_menu(raw)
    topics = {n.settings["queue"] for n in menu.nodes.values() if n.type == "queue"}
    assert topics and automatic_topics(menu) == topics
    topic = raw["nodes"]["agent"]["queue"]
    assert rules_for(menu, topic) == QueueRules(
        automatic=True, ring_timeout=20, max_misses=2, round_robin=False
    )
    raw["nodes"]["agent"].update(ring_timeout=15, strategy="round_robin")
    assert rules_for(parse_menu(raw), topic) == QueueRules(
        automatic=True, ring_timeout=15, max_misses=2, round_robin=True
    )
    for node in raw["nodes"].values():
        if node.get("type") == "queue":
            node["distribution"] = "manual"
    menu = parse_menu(raw)
    assert automatic_topics(menu) == set() and not rules_for(menu, topic).automatic


@pytest.fixture
def app_settings(app_settings: dict[str, Any], rest: str, tmp_path: Path) -> dict[str, Any]:
    """Twilio's REST stand-in, and the menu's general queue ringing agents by itself."""
    raw = default_raw()
    for node in raw["nodes"].values():
        if node.get("queue") == "general":
            node.update(distribution="automatic", ring_timeout=12)
    path = tmp_path / "menu.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    app_settings["HOTLINE_MENU"] = str(path)
    return use_rest(app_settings, rest)


def test_an_agent_whose_wrap_up_ends_is_rung_with_no_request_to_say_so(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general"])
    with app.app_context():
        li = db.session.scalars(select(Agent)).one()
        li.wrapup_until = utcnow() + timedelta(seconds=0.3)
        phone = li.phone
        call = Call(sid="CA" + "1" * 32, from_number="+8613800000000", to_number="+8610100")
        db.session.add(call)
        db.session.flush()
        enter(db.session, call, queue="general-zh", topic="general", language="zh", node="agent")
        db.session.commit()
    assert start_distributor(app)
    assert not start_distributor(app)  # once per process
    deadline = time.monotonic() + 10
    while not RestCalls.placed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(RestCalls.placed) == 1, "the agent was not rung after the wrap-up"
    ring = RestCalls.placed[0]
    assert ring["To"] == phone and ring["Timeout"] == "12"
    with app.app_context():
        entry = db.session.scalars(select(QueueEntry)).one()
        assert entry.state == EntryState.OFFERED
        assert utcnow() >= db.session.get(Agent, entry.agent_id).presence_at


def test_the_tick_comes_just_after_a_wrap_up_ends_sooner_than_a_tick(app: Flask) -> None:
    for name in ("li", "wang", "kimm"):
        add_agent(app, name, ["zh"], ["general"])
    with app.app_context():
        _, li, wang = db.session.scalars(select(Agent).order_by(Agent.name)).all()
        now = utcnow()
        assert next_tick(db.session, now) == TICK_SECONDS  # nobody wrapping up
        li.wrapup_until = now + timedelta(seconds=0.3)
        wang.wrapup_until = now + timedelta(seconds=0.1)
        db.session.commit()
        assert 0.1 < next_tick(db.session, now) < 0.12  # wang's wrap-up ends first
        set_presence(wang, Presence.AWAY)  # no wrap-up to wait for any more
        db.session.commit()
        assert 0.3 < next_tick(db.session, now) < 0.32
        li.wrapup_until = now + timedelta(seconds=5)
        db.session.commit()
        assert next_tick(db.session, now) == TICK_SECONDS  # the regular tick comes first
