"""Busy scenarios through the offline Twilio: callers wait, agents take them, figures add up."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from ivr.database import db
from ivr.models import EntryState, Presence, QueueEntry
from ivr.queues.agents import create_agent, set_presence
from ivr.queues.entries import WAITING
from ivr.simulator import Caller, Hold, Press, Simulator, Wait
from ivr.simulator.agents import Agent as ScriptedAgent
from tests.factories import auth, make_token, manual_menu, until

PHONE = {"li": "+8613900000001", "wang": "+8613900000002", "kim": "+8613900000003"}
POSITION = re.compile(r"您现在排在第 (\d+) 位")


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    """Queues served by "Take next" (automatic distribution: test_distribution.py)."""
    app_settings.update(HOTLINE_WRAPUP_SECONDS=0, HOTLINE_MENU=manual_menu())
    return app_settings


def staff(app: Flask, phone: Simulator, name: str, languages: list[str], topics: list[str],
          talk: float = 40.0) -> None:  # fmt: skip
    """An agent account in the app and the scripted person who answers their phone."""
    with app.app_context():
        agent = create_agent(db.session, name, password="password1", phone=PHONE[name],
                             languages=languages, topics=topics)  # fmt: skip
        set_presence(agent, Presence.AVAILABLE)
        db.session.commit()
    phone.add_agent(ScriptedAgent(PHONE[name], answer_after=1.0, talk_seconds=talk))


def in_line(app: Flask, queue: str = "product-zh") -> int:
    """Callers the app has in ``queue``.

    Twilio holds a caller from the moment it runs <Enqueue>; the app learns of them when their
    first hold music is asked for, a moment later: a take-next in between finds nobody yet.
    """
    with app.app_context():
        return (
            db.session.scalar(
                select(func.count())
                .select_from(QueueEntry)
                .where(QueueEntry.queue == queue, QueueEntry.state.in_(WAITING))
            )
            or 0
        )


def take_next(client: FlaskClient, token: str, name: str) -> dict | None:
    """Take-next as the agent's button does, retrying while the agent is still on a call."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        reply = client.post(f"/api/v1/agents/{name}/take-next", headers=auth(token))
        if reply.status_code == 200:
            return reply.json["offer"]
        assert reply.status_code == 409, reply.json  # busy or wrapping up: try again
        time.sleep(0.05)
    raise AssertionError(f"{name} never became free")


@pytest.mark.slow  # seconds of real time: the quick loop leaves it to the full run
def test_three_callers_one_agent(app: Flask, client: FlaskClient, live_phone: Simulator) -> None:
    staff(app, live_phone, "li", ["zh"], ["product"])
    token = make_token(app)
    handles = []
    for n in range(3):
        handles.append(
            live_phone.start(Caller(number=f"+861380000000{n}", script=[Press("1"), Press("1")]))
        )
        until(lambda n=n: len(live_phone.queue_sids("product-zh")) == in_line(app) == n + 1)
    offers = []
    for _ in range(3):
        offers.append(take_next(client, token, "li"))
        until(
            lambda: live_phone.queue_sids("product-zh") == [h.sid for h in handles][len(offers) :],
            60,
        )
    results = [h.result(timeout=90) for h in handles]
    assert [o["call_sid"] for o in offers] == [h.sid for h in handles]  # longest waiting first
    for result in results:
        assert result.errors == [], result.transcript_text()
        assert result.queue_result == "redirected"
        assert result.talked_with() == PHONE["li"]
    heard = [[int(p) for p in POSITION.findall(" ".join(r.said("cmn-CN")))] for r in results]
    assert heard[0][0] == 1 and heard[1][0] == 2 and heard[2][0] == 3
    assert (
        heard[2] == sorted(heard[2], reverse=True) and len(heard[2]) >= 2
    )  # re-announced, moving up
    waits = [r.queue_time for r in results]
    # Offers go strictly in arrival order (above); who Twilio dequeues first is its own affair.
    # The last caller waits two conversations longer than the first; the second's wait against
    # the first's depends on how long the machine took between their arrivals (simulated time
    # runs 50 times faster, so a loaded machine stretches that gap).
    assert waits[0] < waits[2]
    stats = client.get("/api/v1/stats", headers=auth(token)).json["total"]
    assert (stats["offered"], stats["answered"], stats["abandoned"]) == (3, 3, 0)
    assert stats["p90_wait"] >= stats["average_wait"] > 0
    for result in results:
        record = client.get(f"/api/v1/calls/{result.sid}", headers=auth(token)).json
        assert record["outcome"] == "agent"
        bridged = [e for e in record["events"] if e["kind"] == "bridged"]
        assert len(bridged) == 1 and bridged[0]["detail"]["agent"] == "li"
        # Moved out of the queue into the conversation: Twilio's clock says how long they waited.
        [left] = [e for e in record["events"] if e["kind"] == "queue_left"]
        assert left["detail"]["result"] == "redirected"
        assert left["detail"]["waited"] == result.queue_time
        [ended] = [e for e in record["events"] if e["kind"] == "conversation_ended"]
        assert ended["detail"]["agent"] == "li" and ended["detail"]["talk"] > 0


def test_caller_rates_the_conversation_and_the_figures_show_it(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "li", ["zh"], ["product"], talk=20.0)
    token = make_token(app)
    rater = live_phone.start(
        Caller(number="+8613800000011", script=[Press("1"), Press("1"), Hold(), Press("4")])
    )
    until(lambda: live_phone.queue_sids("product-zh") == [rater.sid] and in_line(app) == 1)
    assert take_next(client, token, "li")["call_sid"] == rater.sid
    result = rater.result(timeout=90)
    assert result.errors == [], result.transcript_text()
    assert result.queue_result == "redirected"
    assert "感谢您的评价" in " ".join(result.said("cmn-CN")), result.transcript_text()
    record = client.get(f"/api/v1/calls/{rater.sid}", headers=auth(token)).json
    assert record["rating"] == 4
    assert [e["detail"]["rating"] for e in record["events"] if e["kind"] == "rating"] == [4]
    stats = client.get("/api/v1/stats", headers=auth(token)).json["total"]
    assert (stats["ratings"], stats["average_rating"]) == (1, 4)


def test_caller_who_gives_up(app: Flask, client: FlaskClient, live_phone: Simulator) -> None:
    staff(app, live_phone, "li", ["zh"], ["product"])
    result = live_phone.call(Caller(script=[Press("1"), Press("1"), Wait(30)]))
    assert result.queue_result == "hangup"
    token = make_token(app)
    record = client.get(f"/api/v1/calls/{result.sid}", headers=auth(token)).json
    assert record["outcome"] == "abandoned"
    assert client.get("/api/v1/stats", headers=auth(token)).json["total"]["abandoned"] == 1
    assert client.get("/api/v1/queues", headers=auth(token)).json["data"][0]["waiting"] == 0


@pytest.mark.slow  # seconds of real time: the quick loop leaves it to the full run
def test_callback_keeps_the_place_and_is_called(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "li", ["zh"], ["product"])
    result = live_phone.call(
        Caller(number="+8613811112222", script=[Press("1"), Press("1"), Press("2")])
    )
    assert result.queue_result == "leave"
    assert "好的，客服会按您的排队顺序给您回电。再见。" in result.said("cmn-CN")
    token = make_token(app)
    offer = take_next(client, token, "li")
    assert offer is not None and offer["callback"] is True and offer["call_sid"] == result.sid
    until(lambda: any(r.to == "+8613811112222" for r in live_phone.outbound_results), 30)
    until(lambda: "callback_done" in [e["kind"] for e in client.get(
        f"/api/v1/calls/{result.sid}", headers=auth(token)).json["events"]], 30)  # fmt: skip
    record = client.get(f"/api/v1/calls/{result.sid}", headers=auth(token)).json
    assert record["outcome"] == "callback"


@pytest.mark.slow  # seconds of real time: the quick loop leaves it to the full run
def test_a_callback_whose_room_is_reported_late_is_made_once(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    # Twilio posts the room's events on their own: here every one comes after the agent's Dial
    # action, as it can on a loaded machine. The customer talked; they must not be rung again.
    staff(app, live_phone, "li", ["zh"], ["product"])
    customer = "+8613811112222"
    result = live_phone.call(Caller(number=customer, script=[Press("1"), Press("1"), Press("2")]))
    assert result.queue_result == "leave"
    live_phone.room_events_late = 1.5
    token = make_token(app)
    assert take_next(client, token, "li") is not None

    def events() -> list[str]:
        reply = client.get(f"/api/v1/calls/{result.sid}", headers=auth(token))
        return [e["kind"] for e in reply.json["events"]]

    until(lambda: "conversation_started" in events(), 30)  # the room's start, reported late
    kinds = events()
    assert kinds.index("callback_done") < kinds.index("conversation_started")
    assert "callback_unanswered" not in kinds
    with app.app_context():  # done, not back in line for another call
        entry = db.session.scalars(select(QueueEntry)).one()
        assert entry.state == EntryState.DONE and entry.talk_seconds


@pytest.mark.slow  # seconds of real time: the quick loop leaves it to the full run
def test_two_agents_at_the_same_moment(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "li", ["zh"], ["product"])
    staff(app, live_phone, "wang", ["zh"], ["product"])
    token = make_token(app)
    handles = []
    for n in range(2):
        handles.append(
            live_phone.start(Caller(number=f"+861390000001{n}", script=[Press("1"), Press("1")]))
        )
        until(lambda n=n: len(live_phone.queue_sids("product-zh")) == in_line(app) == n + 1)
    waiting = lambda: client.get("/api/v1/queues", headers=auth(token)).json["data"]  # noqa: E731
    until(lambda: next(q for q in waiting() if q["queue"] == "product-zh")["waiting"] == 2)
    offers: dict[str, Any] = {}

    def take(name: str) -> None:
        with app.test_client() as own:
            offers[name] = own.post(f"/api/v1/agents/{name}/take-next", headers=auth(token)).json[
                "offer"
            ]

    threads = [threading.Thread(target=take, args=(name,)) for name in ("li", "wang")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results = [h.result(timeout=90) for h in handles]
    assert {offers["li"]["call_sid"], offers["wang"]["call_sid"]} == {h.sid for h in handles}
    assert {r.talked_with() for r in results} == {PHONE["li"], PHONE["wang"]}
    agents = {}
    for result in results:
        events = client.get(f"/api/v1/calls/{result.sid}", headers=auth(token)).json["events"]
        [bridged] = [e for e in events if e["kind"] == "bridged"]
        agents[result.talked_with()] = bridged["detail"]["agent"]
    assert agents == {PHONE["li"]: "li", PHONE["wang"]: "wang"}  # the log names who really talked


def test_agent_without_the_callers_language_is_never_offered_them(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "kim", ["zh"], ["product"])
    result = live_phone.call(Caller(number="+14155550100", script=[Press("2"), Press("1")]))
    assert result.queue_result is None  # never enqueued
    said = result.said("en-US")
    assert "Sorry, all our agents are busy at the moment." in said
    assert (
        "Please leave your message after the tone. Press any key or hang up when you are done."
        in said
    )
    offer = take_next(client, make_token(app), "kim")
    assert offer is None


@pytest.mark.slow  # seconds of real time: the quick loop leaves it to the full run
def test_a_replayed_bridge_and_key_are_noted_once(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    live_phone.replay = True  # every webhook arrives twice, as Twilio's retries can
    staff(app, live_phone, "li", ["zh"], ["product"], talk=5)
    token = make_token(app)
    handle = live_phone.start(Caller(script=[Press("1"), Press("1")]))
    until(lambda: in_line(app) == 1)
    assert take_next(client, token, "li") is not None
    bridged = handle.result(timeout=90)
    assert bridged.queue_result == "redirected", bridged.transcript_text()
    left = live_phone.call(Caller(script=[Press("1"), Press("1"), Press("2")]))
    assert left.queue_result == "leave", left.transcript_text()
    for result, kind in ((bridged, "bridged"), (left, "queue_key")):
        events = client.get(f"/api/v1/calls/{result.sid}", headers=auth(token)).json["events"]
        assert [e["kind"] for e in events].count(kind) == 1, events
