"""The figures' charts show the calls, waits and service level of the hours they happened in,
and the agents' page draws a bar per agent."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.database import db
from ivr.models import Agent, AgentOffer, Call, EntryState, OfferOutcome, Outcome, QueueEntry, Role
from ivr.queues.agents import create_agent
from tests.factories import sign_in
from tests.pages import visible_text

pytestmark = pytest.mark.usefixtures("manual_queues")  # stays set by hand

DAY = "2026-11-20"
NINE = datetime(2026, 11, 20, 9, tzinfo=UTC)  # the supervisor reads in UTC


def stay(
    n: int, at: datetime, *, wait: int, answered: bool, agent: int | None = None, talk: int = 0
) -> None:
    """A caller who queued at ``at`` and waited ``wait`` seconds, answered by an agent or not."""
    call = Call(sid=f"CA{n:032d}", status="completed", started_at=at,
                outcome=Outcome.AGENT if answered else Outcome.ABANDONED)  # fmt: skip
    db.session.add(call)
    db.session.flush()
    db.session.add(QueueEntry(
        call_id=call.id, call_sid=call.sid, queue="product-zh", topic="product", language="zh",
        node="product", state=EntryState.DONE if answered else EntryState.ABANDONED,
        entered_at=at, wait_seconds=wait, left_at=at + timedelta(seconds=wait + talk),
        bridged_at=at + timedelta(seconds=wait) if answered else None,
        agent_id=agent, offered_at=at + timedelta(seconds=wait - 1) if answered else None,
        talk_seconds=talk if answered else None,
    ))  # fmt: skip
    if answered:
        db.session.flush()
        entry = db.session.scalar(select(QueueEntry).where(QueueEntry.call_id == call.id))
        db.session.add(AgentOffer(agent_id=agent, entry_id=entry.id, queue=entry.queue,  # type: ignore[union-attr]
                                  offered_at=at + timedelta(seconds=wait - 1),
                                  ended_at=at + timedelta(seconds=wait),
                                  outcome=OfferOutcome.ANSWERED))  # fmt: skip


@pytest.fixture
def day(app: Flask) -> None:
    """At 9: three answered (waits 5, 15 and 40 s) and one who gave up after 60 s; at 14: one
    answered in 10 s. Li answered three, Wang one."""
    with app.app_context():
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        li = create_agent(db.session, "li", password="correct horse")
        wang = create_agent(db.session, "wang", password="correct horse")
        db.session.flush()
        db.session.scalar(select(Agent).where(Agent.name == "zhang")).timezone = "UTC"  # type: ignore[union-attr]
        stay(1, NINE, wait=5, answered=True, agent=li.id, talk=120)
        stay(2, NINE + timedelta(minutes=10), wait=15, answered=True, agent=li.id, talk=60)
        stay(3, NINE + timedelta(minutes=20), wait=40, answered=True, agent=wang.id, talk=30)
        stay(4, NINE + timedelta(minutes=30), wait=60, answered=False)
        stay(5, NINE + timedelta(hours=5), wait=10, answered=True, agent=li.id, talk=90)
        db.session.commit()


def chart(page: str, id_: str) -> str:
    found = re.search(rf'<figure class="chart[^"]*" id="{id_}">(.*?)</figure>', page, re.S)
    assert found, id_
    return found.group(1)


def titles(svg: str) -> list[str]:
    return re.findall(r"<title>([^<]+)</title>", svg)


@pytest.mark.usefixtures("day")
def test_the_charts_show_each_hours_calls_waits_and_service_level(client: FlaskClient) -> None:
    sign_in(client, "zhang")
    page = client.get(f"/figures?from={DAY}&to={DAY}").get_data(as_text=True)

    calls = chart(page, "calls-per-hour")
    assert {"09:00 · 4 calls", "14:00 · 1 calls", "09:00 · 3 answered by agents",
            "09:00 · 1 hung up", "14:00 · 1 answered by agents"} <= set(titles(calls))  # fmt: skip
    assert re.findall(r'<text class="value"[^>]*>(\d+)</text>', calls) == ["4", "1"]
    assert "Answered by agents" in calls and "Hung up" in calls  # the legend
    # The y axis: 0 to 4 calls.
    assert re.findall(r'<svg class="y-axis".*?</svg>', calls, re.S)[0].count("<text") == 5

    waits = titles(chart(page, "waits-per-hour"))
    assert "09:00 · average wait 20 s" in waits  # (5 + 15 + 40) / 3
    assert "09:00 · longest wait 60 s" in waits  # the caller who gave up
    assert "14:00 · average wait 10 s" in waits

    service = chart(page, "service-per-hour")
    # A target of 20 s: two of the four at 9, the one at 14.
    assert "09:00 · 50% answered within 20 s (2 of 4)" in titles(service)
    assert "14:00 · 100% answered within 20 s (1 of 1)" in titles(service)
    assert re.findall(r'<text class="value"[^>]*>([^<]+)</text>', service) == ["50%", "100%"]
    assert 'class="goal"' in service and "Goal: 80%" in service


@pytest.mark.usefixtures("day")
def test_the_charts_speak_chinese(client: FlaskClient) -> None:
    sign_in(client, "zhang")
    client.get("/language/zh")
    page = client.get(f"/figures?from={DAY}&to={DAY}").get_data(as_text=True)
    assert "09:00 · 4 通来电" in titles(chart(page, "calls-per-hour"))
    assert "09:00 · 50% 在 20 秒内接听（4 通中 2 通）" in titles(chart(page, "service-per-hour"))
    assert "目标：80%" in visible_text(page)


@pytest.mark.usefixtures("day")
def test_the_agents_page_draws_a_bar_per_agent(client: FlaskClient) -> None:
    sign_in(client, "zhang")
    page = client.get(f"/figures/agents?from={DAY}&to={DAY}").get_data(as_text=True)
    answered = chart(page, "agents-answered")
    assert titles(answered) == ["li · 3 calls answered", "wang · 1 calls answered"]
    widths = re.findall(r'<rect class="bar s0" x="0" y="\d+" width="([\d.]+)%"', answered)
    assert [float(w) for w in widths] == [100, pytest.approx(33.333, abs=0.01)]
    assert re.findall(r'<text class="value[^"]*"[^>]*>([^<]+)</text>', answered) == ["3", "1"]
    assert "li · talked 4:30" in titles(chart(page, "agents-talk"))


def test_an_empty_day_draws_empty_charts(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        db.session.commit()
    sign_in(client, "zhang")
    page = client.get(f"/figures?from={DAY}&to={DAY}").get_data(as_text=True)
    assert re.findall(r'<text class="value"[^>]*>', chart(page, "calls-per-hour")) == []
    assert "agents-answered" not in client.get("/figures/agents").get_data(as_text=True)
