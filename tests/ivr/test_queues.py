"""Queues through signed webhooks and a loopback REST stand-in: waiting, leaving, agents, figures."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.database import db
from ivr.models import Agent, Call, CallEvent, EntryState, Outcome, Presence
from ivr.queues.waiting import estimate_wait
from tests.conftest import Twilio
from tests.factories import (
    SID,
    add_agent,
    auth,
    call_params,
    entries,
    make_token,
    path_of,
    to_queue,
    use_rest,
    wait_loop,
)
from tests.loopback import RestCalls
from tests.twiml import Doc


@pytest.fixture
def app_settings(app_settings: dict[str, Any], rest: str) -> dict[str, Any]:
    return use_rest(app_settings, rest)


def test_no_agent_signed_in_offers_a_message(app: Flask, twilio: Twilio) -> None:
    add_agent(app, "away", ["zh"], ["product"], available=False)
    doc = to_queue(twilio)
    assert "Enqueue" not in doc.verbs()
    assert "Record" in doc.verbs()
    assert doc.said()[0] == ("cmn-CN", "抱歉，目前所有客服都在忙。")


def test_agent_of_another_language_does_not_count(app: Flask, twilio: Twilio) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    doc = to_queue(twilio, lang_key="2")
    assert "Enqueue" not in doc.verbs()
    assert doc.said()[0] == ("en-US", "Sorry, all our agents are busy at the moment.")


def test_waiting_caller_hears_place_and_estimate_then_music(app: Flask, twilio: Twilio) -> None:
    add_agent(app, "li", ["zh", "en"], ["product"])
    doc = to_queue(twilio, lang_key="2")
    enqueue = doc.root.find("Enqueue")
    assert enqueue is not None and enqueue.text == "product-en"
    _wait_url, first = wait_loop(twilio, doc, QueuePosition="3")
    texts = [t for _, t in first.said()]
    # One agent, default handling 180 s: the third caller waits about 2.5 calls = 7.5 minutes.
    assert texts[0] == "You are number 3 in line. The expected wait is about 8 minutes."
    assert texts[1].startswith("To leave a message press 1.")
    assert first.gather().get("numDigits") == "1"
    _, again = wait_loop(twilio, doc, QueuePosition="2", QueueTime="10")
    assert again.said() == []  # not announced again so soon: the music plays
    assert again.gather().find("Pause") is not None
    [entry] = entries(app)
    assert (entry.queue, entry.state, entry.announcements) == ("product-en", EntryState.WAITING, 1)


def test_estimate_follows_agents_and_position() -> None:
    assert estimate_wait(1, 1, 180) == 90
    assert estimate_wait(3, 1, 180) == 450
    assert estimate_wait(3, 3, 180) == 90
    assert estimate_wait(4, 3, 120) == 180
    assert estimate_wait(0, 1, 180) == 0


def test_key_1_leaves_for_a_message_filed_under_the_topic(app: Flask, twilio: Twilio) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    doc = to_queue(twilio)
    _, waiting = wait_loop(twilio, doc)
    key_url = path_of(waiting.gather().get("action", ""))
    left = Doc.parse(twilio.post(key_url, call_params(Digits="1")).data)
    assert left.verbs() == ["Leave"]
    action = path_of(doc.root.find("Enqueue").get("action", ""))  # type: ignore[union-attr]
    after = Doc.parse(twilio.post(action, call_params(QueueResult="leave", QueueTime="40")).data)
    record = after.root.find("Record")
    assert record is not None
    assert "c=product" in record.get("action", "")
    [entry] = entries(app)
    assert (entry.state, entry.leave_reason, entry.wait_seconds) == (EntryState.LEFT, "message", 40)


def test_key_2_asks_for_a_callback_that_keeps_the_place(app: Flask, twilio: Twilio) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    doc = to_queue(twilio)
    _, waiting = wait_loop(twilio, doc)
    twilio.post(path_of(waiting.gather().get("action", "")), call_params(Digits="2"))
    action = path_of(doc.root.find("Enqueue").get("action", ""))  # type: ignore[union-attr]
    bye = Doc.parse(twilio.post(action, call_params(QueueResult="leave", QueueTime="25")).data)
    assert bye.said()[0] == ("cmn-CN", "好的，客服会按您的排队顺序给您回电。再见。")
    assert bye.verbs()[-1] == "Hangup"
    [entry] = entries(app)
    assert entry.state == EntryState.CALLBACK
    with app.app_context():
        assert db.session.scalars(select(Call)).one().outcome == Outcome.CALLBACK


def test_max_wait_offers_a_message(app: Flask, twilio: Twilio) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    doc = to_queue(twilio)
    _, late = wait_loop(twilio, doc, QueueTime="601")
    assert late.verbs() == ["Say", "Leave"]
    assert entries(app)[0].leave_reason == "timeout"


def agent_answers(twilio: Twilio, placed: dict[str, str]) -> tuple[dict[str, str], Doc]:
    """The agent's phone, rung by the call the app ``placed``, answers: their leg and its TwiML."""
    agent_leg = {"CallSid": "CA" + "a" * 32, "From": "+10000000000", "To": placed["To"],
                 "CallStatus": "in-progress", "Direction": "outbound-api"}  # fmt: skip
    return agent_leg, Doc.parse(twilio.post(path_of(placed["Url"]), agent_leg).data)


def test_take_next_calls_the_agent_who_hears_topic_and_wait(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    doc = to_queue(twilio)
    wait_loop(twilio, doc)
    token = make_token(app)
    reply = client.post("/api/v1/agents/li/take-next", headers=auth(token))
    assert reply.status_code == 200, reply.json
    offer = reply.json["offer"]
    assert offer["call_sid"] == SID and offer["queue"] == "product-zh" and not offer["callback"]
    [placed] = RestCalls.placed
    assert placed["To"] == "+8613900000002"
    assert placed["Url"].startswith("https://hotline.example.com/voice/agent/connect?entry=")
    # The agent's leg: a whisper in the agent's language, then the conference of the caller's
    # call, into which the caller is moved out of the queue by a call update.
    agent_leg, connect = agent_answers(twilio, placed)
    assert connect.said()[0][1].startswith("商品咨询，中文来电，已等待")
    room = connect.root.find("Dial/Conference")
    assert room is not None and room.text == f"hotline-{SID}"
    assert room.get("endConferenceOnExit") == "true"
    # Alone in the room until the caller is moved in, the agent hears silence, not music.
    assert room.get("waitUrl") == ""
    moved = RestCalls.placed[1]
    assert moved["path"].endswith(f"/Calls/{SID}.json")
    assert path_of(moved["Url"]).startswith("/voice/queue/join?entry=")
    # Twilio tells the Enqueue action the caller was redirected; the caller joins the room,
    # hearing music until the agent is there, and the room ends when they hang up.
    action = path_of(doc.root.find("Enqueue").get("action", ""))  # type: ignore[union-attr]
    ignored = twilio.post(action, call_params(QueueResult="redirected", QueueTime="35"))
    assert ignored.status_code == 200
    joined = Doc.parse(twilio.post(path_of(moved["Url"]), call_params()).data)
    assert joined.said() == [("cmn-CN", "正在为您接通客服。")]
    # The room reports its start when li is in it with the caller.
    room_report = {"AccountSid": call_params()["AccountSid"], "ConferenceSid": "CF" + "1" * 32,
                   "FriendlyName": f"hotline-{SID}", "CallSid": agent_leg["CallSid"],
                   "StatusCallbackEvent": "conference-start", "SequenceNumber": "1"}  # fmt: skip
    assert twilio.post("/voice/queue/conference", room_report).status_code == 204
    caller_room = joined.root.find("Dial/Conference")
    assert caller_room is not None and caller_room.text == f"hotline-{SID}"
    assert caller_room.get("startConferenceOnEnter") == "false"
    assert caller_room.get("endConferenceOnExit") == "true"
    assert "/voice/queue/music" in caller_room.get("waitUrl", "")
    # The agent hangs up: their Dial ends, and the caller's Dial action asks for a rating.
    dial_action = path_of(connect.root.find("Dial").get("action", ""))  # type: ignore[union-attr]
    twilio.post(dial_action, {**agent_leg, "DialCallStatus": "answered", "DialCallDuration": "95"})
    talked = path_of(joined.root.find("Dial").get("action", ""))  # type: ignore[union-attr]
    rating = Doc.parse(twilio.post(talked, call_params(DialCallStatus="answered")).data)
    assert rating.said() == [("cmn-CN", "请为本次服务评分，非常满意请按5，非常不满意请按1。")]
    thanks = Doc.parse(
        twilio.post(path_of(rating.gather().get("action", "")), call_params(Digits="4")).data
    )
    assert thanks.said()[0] == ("cmn-CN", "感谢您的评价。")
    message = Doc.parse(
        twilio.post(path_of(thanks.gather().get("action", "")), call_params(Digits="1")).data
    )
    record = message.root.find("Record")
    assert record is not None and "c=after_call" in record.get("action", "")
    [entry] = entries(app)
    assert (entry.state, entry.wait_seconds, entry.talk_seconds) == (EntryState.DONE, 35, 95)
    with app.app_context():
        call = db.session.scalars(select(Call)).one()
        assert (call.outcome, call.rating) == (Outcome.AGENT, 4)
        agent = db.session.scalars(select(Agent)).one()
        assert agent.presence == Presence.AVAILABLE
    body = client.get(f"/api/v1/calls/{SID}", headers=auth(token)).json
    kinds = [e["kind"] for e in body["events"]]
    for kind in ("queue_entered", "queue_position", "bridged", "queue_left",
                 "conversation_ended", "rating"):  # fmt: skip
        assert kind in kinds
    bridged_event = next(e for e in body["events"] if e["kind"] == "bridged")
    assert bridged_event["detail"]["queue"] == "product-zh"
    assert bridged_event["detail"]["agent"] == "li"
    ended = next(e for e in body["events"] if e["kind"] == "conversation_ended")
    assert ended["detail"] == {"agent": "li", "talk": 95}


def test_a_caller_whose_agent_left_before_they_came_keeps_their_place(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    wait_loop(twilio, to_queue(twilio))
    [before] = entries(app)
    assert client.post("/api/v1/agents/li/take-next", headers=auth(make_token(app))).json["offer"]
    agent_leg, connect = agent_answers(twilio, RestCalls.placed[0])
    moved = RestCalls.placed[1]
    # Twilio was slow to move the caller: li's Dial ended (alone in the room) before they came.
    dial_action = path_of(connect.root.find("Dial").get("action", ""))  # type: ignore[union-attr]
    twilio.post(dial_action, {**agent_leg, "DialCallStatus": "answered", "DialCallDuration": "6"})
    joined = Doc.parse(twilio.post(path_of(moved["Url"]), call_params()).data)
    assert "Enqueue" in joined.verbs() and joined.root.find("Dial") is None
    [entry] = entries(app)  # the same stay, waiting from when the caller first came
    assert (entry.state, entry.entered_at, entry.agent_id) == (
        EntryState.WAITING,
        before.entered_at,
        None,
    )
    assert entry.talk_seconds is None  # no talk for li's figures
    with app.app_context():
        kinds = [e.kind for e in db.session.scalars(select(CallEvent).order_by(CallEvent.id))]
    assert kinds.index("bridged") < kinds.index("bridge_failed")


def test_longest_waiting_first_and_never_twice(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product", "payment"])
    add_agent(app, "wang", ["zh"], ["product", "payment"])
    sids = ["CA" + str(n) * 32 for n in (3, 4, 5)]
    for sid, option in zip(sids, ("1", "3", "1"), strict=True):
        wait_loop(twilio, to_queue(twilio, sid=sid, option=option), sid=sid)
    token = make_token(app)
    results: list[dict] = []

    def take(name: str) -> None:
        with app.test_client() as own:
            results.append(own.post(f"/api/v1/agents/{name}/take-next", headers=auth(token)).json)

    threads = [threading.Thread(target=take, args=(name,)) for name in ("li", "wang")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken = sorted(r["offer"]["call_sid"] for r in results)
    assert taken == sorted(sids[:2])  # the two who waited longest, one each
    busy = client.post("/api/v1/agents/li/take-next", headers=auth(token))
    assert busy.status_code == 409  # li is on a call now


def test_agent_who_does_not_answer_gives_the_caller_back(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    wait_loop(twilio, to_queue(twilio))
    client.post("/api/v1/agents/li/take-next", headers=auth(make_token(app)))
    [placed] = RestCalls.placed
    leg = "CA" + f"{1:032x}"  # the sid the REST stand-in gave the agent's call
    # Another leg's late status (a call the agent had before) changes nothing.
    late = {"CallSid": "CA" + "a" * 32, "CallStatus": "no-answer", "To": placed["To"]}
    assert twilio.post(path_of(placed["StatusCallback"]), late).status_code == 204
    assert entries(app)[0].state == EntryState.OFFERED
    status = {"CallSid": leg, "CallStatus": "no-answer", "To": placed["To"]}
    assert twilio.post(path_of(placed["StatusCallback"]), status).status_code == 204
    [entry] = entries(app)
    assert (entry.state, entry.agent_id) == (EntryState.WAITING, None)
    with app.app_context():
        assert db.session.scalars(select(Agent)).one().presence == Presence.AWAY


def test_queue_figures(app: Flask, client: FlaskClient, twilio: Twilio) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    wait_loop(twilio, to_queue(twilio))
    token = make_token(app)
    rows = {r["queue"]: r for r in client.get("/api/v1/queues", headers=auth(token)).json["data"]}
    assert rows["product-zh"]["waiting"] == 1
    assert rows["product-zh"]["agents_available"] == 1
    assert rows["product-en"]["agents_signed_in"] == 0
    stats = client.get("/api/v1/stats", headers=auth(token)).json
    assert stats["total"]["offered"] == 1
    assert stats["total"]["answered"] == 0
    assert stats["answer_target_seconds"] == 20
    assert client.get("/api/v1/stats?from=yesterday", headers=auth(token)).status_code == 400
    # Times with no UTC equivalent (before year 1, after 9999) are refused, not a 500.
    for edge in ("from=0001-01-01T00:00:00%2B14:00", "to=9999-12-31T23:59:59-14:00"):
        reply = client.get(f"/api/v1/stats?{edge}", headers=auth(token))
        assert reply.status_code == 400 and "ISO 8601" in reply.json["error"]["message"], edge


def ask_for_callback(twilio: Twilio) -> None:
    """The caller waits, presses 2 and leaves the queue to be called back in their turn."""
    doc = to_queue(twilio)
    _, waiting = wait_loop(twilio, doc)
    twilio.post(path_of(waiting.gather().get("action", "")), call_params(Digits="2"))
    action = path_of(doc.root.find("Enqueue").get("action", ""))  # type: ignore[union-attr]
    twilio.post(action, call_params(QueueResult="leave", QueueTime="25"))


def test_callback_calls_the_agent_then_the_customer(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    ask_for_callback(twilio)
    offer = client.post("/api/v1/agents/li/take-next", headers=auth(make_token(app))).json["offer"]
    assert offer["callback"] is True
    [placed] = RestCalls.placed
    assert "/voice/agent/callback?entry=" in placed["Url"]
    agent_leg = {"CallSid": "CA" + f"{1:032x}", "To": placed["To"], "CallStatus": "in-progress"}
    leg = Doc.parse(twilio.post(path_of(placed["Url"]), agent_leg).data)
    assert leg.said()[0][1].startswith("回电：商品咨询，号码")
    # The customer's phone is rung into the conversation's room, where the agent joins.
    room = leg.root.find("Dial/Conference")
    assert room is not None and room.text == f"hotline-{SID}"
    ringing = RestCalls.placed[1]
    assert ringing["path"].endswith(f"/Conferences/hotline-{SID}/Participants.json")
    assert (ringing["To"], ringing["Label"], ringing["EndConferenceOnExit"]) == (
        "+8613800138000", "caller", "true")  # fmt: skip
    report = {"AccountSid": call_params()["AccountSid"], "ConferenceSid": "CF" + "1" * 32,
              "FriendlyName": f"hotline-{SID}", "CallSid": ringing_sid(2),
              "StatusCallbackEvent": "conference-start", "SequenceNumber": "1"}  # fmt: skip
    assert twilio.post("/voice/queue/conference", report).status_code == 204
    dial_action = path_of(leg.root.find("Dial").get("action", ""))  # type: ignore[union-attr]
    twilio.post(dial_action, {**agent_leg, "DialCallStatus": "answered", "DialCallDuration": "61"})
    [entry] = entries(app)
    assert (entry.state, entry.talk_seconds) == (EntryState.DONE, 61)
    with app.app_context():
        call = db.session.scalars(select(Call)).one()
        assert call.outcome == Outcome.CALLBACK
        kinds = [e.kind for e in call.events]
        assert "callback_done" in kinds


def ringing_sid(n: int) -> str:
    """The sid the REST stand-in gave the ``n``-th call or participant it placed."""
    return "CA" + f"{n:032x}"


def test_a_call_back_nobody_answers_keeps_its_place_then_is_given_up(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    ask_for_callback(twilio)
    token = make_token(app)
    for attempt in (1, 2):
        RestCalls.placed.clear()
        assert client.post("/api/v1/agents/li/take-next", headers=auth(token)).json["offer"]
        placed = RestCalls.placed[0]
        agent_leg = {"CallSid": ringing_sid(1), "To": placed["To"], "CallStatus": "in-progress"}
        twilio.post(path_of(placed["Url"]), agent_leg)
        customer = RestCalls.placed[1]
        status = {**call_params(CallSid=ringing_sid(2), CallStatus="no-answer")}
        assert twilio.post(path_of(customer["StatusCallback"]), status).status_code == 204
        # The agent, alone in the room, is let go (their leg ended through the REST API).
        ended = RestCalls.placed[2]
        assert ended["path"].endswith(f"/Calls/{ringing_sid(1)}.json")
        assert ended["Status"] == "completed"
        [entry] = entries(app)
        expected = EntryState.CALLBACK if attempt == 1 else EntryState.LEFT
        assert (entry.state, entry.agent_id) == (expected, None), attempt
    with app.app_context():
        kinds = [e.kind for e in db.session.scalars(select(Call)).one().events]
        assert kinds.count("callback_unanswered") == 2 and "callback_gave_up" in kinds
        assert db.session.scalars(select(Agent)).one().presence == Presence.AVAILABLE


def test_agent_legs_naming_no_agent_are_answered_for_the_entry(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    """An agent id past PostgreSQL's integer, or of an agent since deleted: the entry's agent."""
    add_agent(app, "li", ["zh"], ["product"])
    wait_loop(twilio, to_queue(twilio))
    taken = client.post("/api/v1/agents/li/take-next", headers=auth(make_token(app)))
    assert taken.status_code == 200, taken.json
    [placed] = RestCalls.placed
    entry = parse_qs(urlsplit(placed["Url"]).query)["entry"][0]
    leg = {"CallSid": "CA" + "a" * 32, "To": placed["To"], "CallStatus": "completed"}
    for agent in ("2147483648", "2147483647", "99999999999"):
        connect = twilio.post(f"/voice/agent/connect?entry={entry}&agent={agent}", leg)
        assert connect.status_code == 200, (agent, connect.data)
        assert Doc.parse(connect.data).said(), agent  # joined, or told the talk is over
        status = twilio.post(f"/voice/agent/status?entry={entry}&agent={agent}", leg)
        assert status.status_code < 300, (agent, status.data)
    # The legs were li's (the entry's agent): their end is li's, and li is free again.
    assert entries(app)[0].agent_id is not None
    with app.app_context():
        assert db.session.scalars(select(Agent)).one().presence == Presence.AVAILABLE


def test_an_agent_who_hangs_up_before_reaching_the_room_gives_the_caller_back_their_place(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    doc = to_queue(twilio)
    wait_loop(twilio, doc)
    client.post("/api/v1/agents/li/take-next", headers=auth(make_token(app)))
    placed = RestCalls.placed[0]
    leg = {"CallSid": "CA" + f"{1:032x}", "To": placed["To"], "CallStatus": "in-progress"}
    twilio.post(path_of(placed["Url"]), leg)  # li answers; the caller is moved to the room
    joined = Doc.parse(twilio.post(path_of(RestCalls.placed[1]["Url"]), call_params()).data)
    [before] = entries(app)
    # li hangs up during the whisper: their leg ends, no conference ever started.
    twilio.post(path_of(placed["StatusCallback"]), {**leg, "CallStatus": "completed"})
    RestCalls.rooms = [
        {"sid": "CF" + "1" * 32, "friendly_name": f"hotline-{SID}", "status": "init"}
    ]
    # The caller, still waiting in the room, asks for its music: they are put back in line with
    # their place, and moved out of the room to the queue's node.
    music = joined.root.find("Dial/Conference").get("waitUrl", "")  # type: ignore[union-attr]
    twilio.post(path_of(music), call_params())
    [entry] = entries(app)
    assert (entry.state, entry.agent_id, entry.entered_at) == (
        EntryState.WAITING, None, before.entered_at)  # fmt: skip
    moved = RestCalls.placed[2]
    assert moved["path"].endswith(f"/Calls/{SID}.json")
    assert path_of(moved["Url"]).startswith("/voice/node/product?")
    with app.app_context():
        assert db.session.scalars(select(Agent)).one().presence == Presence.AVAILABLE
        kinds = [e.kind for e in db.session.scalars(select(Call)).one().events]
        assert "bridge_failed" in kinds and "conversation_started" not in kinds
    # Had the room ended first, the caller's Dial action would put them back in the queue all
    # the same, in the same stay: no rating for a talk that never was.
    talked = path_of(joined.root.find("Dial").get("action", ""))  # type: ignore[union-attr]
    again = Doc.parse(twilio.post(talked, call_params(DialCallStatus="answered")).data)
    assert "Enqueue" in again.verbs() and "请为本次服务评分" not in str(again.said())
    wait_loop(twilio, again)
    assert [e.id for e in entries(app)] == [entry.id]


def test_late_requests_after_a_talk_whose_start_was_not_reported_yet_do_not_requeue_the_caller(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    """The conference's start is reported on its own: it may come after the agent's leg ended
    and after a music request the caller sent before the agent came in. Twilio says the room
    started (it is not waiting, "init"): the caller is not put back in line."""
    add_agent(app, "li", ["zh"], ["product"])
    wait_loop(twilio, to_queue(twilio))
    client.post("/api/v1/agents/li/take-next", headers=auth(make_token(app)))
    placed = RestCalls.placed[0]
    leg = {"CallSid": "CA" + f"{1:032x}", "To": placed["To"], "CallStatus": "in-progress"}
    twilio.post(path_of(placed["Url"]), leg)
    joined = Doc.parse(twilio.post(path_of(RestCalls.placed[1]["Url"]), call_params()).data)
    RestCalls.rooms = [
        {"sid": "CF" + "2" * 32, "friendly_name": f"hotline-{SID}", "status": "completed"}
    ]
    twilio.post(path_of(placed["StatusCallback"]), {**leg, "CallStatus": "completed"})
    music = joined.root.find("Dial/Conference").get("waitUrl", "")  # type: ignore[union-attr]
    reply = twilio.post(path_of(music), call_params())
    assert reply.status_code == 200
    [entry] = entries(app)
    assert entry.state == EntryState.DONE and entry.agent_id is not None
    assert len(RestCalls.placed) == 2  # nobody moved back to the queue
    # The room's end reaches the caller's Dial before its start was reported: a rating, not the
    # queue again.
    talked = path_of(joined.root.find("Dial").get("action", ""))  # type: ignore[union-attr]
    rating = Doc.parse(twilio.post(talked, call_params(DialCallStatus="answered")).data)
    assert "请为本次服务评分" in str(rating.said()) and "Enqueue" not in rating.verbs()
    with app.app_context():
        kinds = [e.kind for e in db.session.scalars(select(Call)).one().events]
        assert "bridge_failed" not in kinds
