"""Conversations on conferences through the offline Twilio: the agent holds, mutes, transfers to
another queue and hangs up, and the caller's timeline says each."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.database import db
from ivr.models import Agent, CallEvent, EntryState, Presence, QueueEntry, Role
from ivr.queues.agents import create_agent, set_presence
from ivr.simulator import Caller, Press, Simulator
from ivr.simulator.agents import Agent as ScriptedAgent
from ivr.simulator.conferences import Participant
from tests.factories import auth, csrf, make_token, menu_with, sign_in, until

LI, WANG = "+8613900000001", "+8613900000002"


@pytest.fixture
def app_settings(app_settings: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The shipped menu (every queue rings free agents by itself), no wrap-up."""
    app_settings.update(HOTLINE_MENU=menu_with(tmp_path), HOTLINE_WRAPUP_SECONDS=0)
    return app_settings


def staff(app: Flask, phone: Simulator, name: str, number: str, topic: str, talk: float) -> None:
    with app.app_context():
        agent = create_agent(db.session, name, password="password1", phone=number,
                             languages=["zh"], topics=[topic])  # fmt: skip
        set_presence(agent, Presence.AVAILABLE)
        db.session.commit()
    phone.add_agent(ScriptedAgent(number, answer_after=1.0, talk_seconds=talk))


def participant(phone: Simulator, call_sid: str) -> Callable[[], Participant | None]:
    """The caller's leg as the stand-in's conference holds it now."""

    def find() -> Participant | None:
        with phone.lock:
            return phone.conferences.participant_of(call_sid)

    return find


def test_hold_mute_transfer_and_hang_up_on_a_live_conversation(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    # li would talk for an hour of simulated time: the conversation lasts until acted on.
    staff(app, live_phone, "li", LI, "product", talk=3600)
    staff(app, live_phone, "wang", WANG, "payment", talk=3600)
    token = make_token(app)
    handle = live_phone.start(Caller(number="+8613800000009", script=[Press("1"), Press("1")]))

    def act(name: str, **body: str) -> dict[str, Any]:
        reply = client.post(f"/api/v1/agents/{name}/conversation", json=body, headers=auth(token))
        assert reply.status_code == 200, reply.json
        return reply.json

    def in_room_with(number: str) -> bool:
        return number in handle.run.result.heard_in_conference

    until(lambda: in_room_with(LI))
    caller = participant(live_phone, handle.sid)
    room = f"hotline-{handle.sid}"
    assert caller() is not None and caller().conference.name == room  # type: ignore[union-attr]

    act("li", action="hold")
    until(lambda: caller() is not None and caller().hold)  # type: ignore[union-attr]
    act("li", action="resume")
    until(lambda: caller() is not None and not caller().hold)  # type: ignore[union-attr]
    act("li", action="mute")
    with live_phone.lock:
        agent_leg = next(p for p in caller().conference.participants if p.run.party == LI)  # type: ignore[union-attr]
        assert agent_leg.muted
    act("li", action="unmute")
    # A queue that is not in the menu is refused; the payment queue takes the caller.
    reply = client.post("/api/v1/agents/li/conversation", json={"action": "transfer",
                        "queue": "nowhere"}, headers=auth(token))  # fmt: skip
    assert reply.status_code == 409
    act("li", action="transfer", queue="payment")
    until(lambda: in_room_with(WANG))
    assert handle.run.result.heard_in_conference == [LI, WANG]
    act("wang", action="hang_up")
    result = handle.result(timeout=60)
    assert result.errors == [], result.transcript_text()
    # After the agent hangs up, the caller is asked to rate the conversation.
    assert "请为本次服务评分，非常满意请按5，非常不满意请按1。" in result.said()

    record = client.get(f"/api/v1/calls/{result.sid}", headers=auth(token)).json
    kinds = [e["kind"] for e in record["events"]]
    assert kinds.count("bridged") == 2 and kinds.count("conversation_ended") == 2
    for kind in ("held", "resumed", "transferred"):
        assert kinds.count(kind) == 1, kinds
    held = next(e for e in record["events"] if e["kind"] == "held")
    assert held["detail"]["agent"] == "li" and held["detail"]["party"] == "caller"
    transferred = next(e for e in record["events"] if e["kind"] == "transferred")
    assert transferred["detail"] == {"agent": "li", "to": "payment", "how": "blind"}
    assert [e["detail"]["agent"] for e in record["events"] if e["kind"] == "bridged"] == [
        "li",
        "wang",
    ]
    with app.app_context():
        stays = db.session.scalars(select(QueueEntry).order_by(QueueEntry.id)).all()
        assert [(s.queue, s.state) for s in stays] == [
            ("product-zh", EntryState.DONE),
            ("payment-zh", EntryState.DONE),
        ]
        assert all(s.talk_seconds is not None for s in stays)
    # The supervisor's figures per agent say what happened: li answered, held once and
    # transferred once; wang answered the transferred caller.
    with app.app_context():
        create_agent(db.session, "boss", password="password1", role=Role.SUPERVISOR)
        db.session.commit()
    sign_in(client, "boss", "password1")
    rows = csv.DictReader(io.StringIO(
        client.get("/export/agents.csv?header=keys").get_data(as_text=True).lstrip("\ufeff")))  # fmt: skip
    by_name = {row["agent"]: row for row in rows}
    li, wang = by_name["li"], by_name["wang"]
    assert (li["offered"], li["answered"], li["holds"], li["transfers"]) == ("1", "1", "1", "1")
    assert (wang["offered"], wang["answered"], wang["missed"]) == ("1", "1", "0")
    assert float(wang["talk"]) > 0  # (hold seconds: real time, here a few milliseconds)


def test_controls_need_a_conversation(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        create_agent(db.session, "li", password="password1", phone=LI, languages=["zh"],
                     topics=["product"])  # fmt: skip
        db.session.commit()
    token = make_token(app)
    reply = client.post("/api/v1/agents/li/conversation", json={"action": "hold"},
                        headers=auth(token))  # fmt: skip
    assert reply.status_code == 409 and "not in a conversation" in reply.json["error"]["message"]
    reply = client.post("/api/v1/agents/li/conversation", json={"action": "dance"},
                        headers=auth(token))  # fmt: skip
    assert reply.status_code == 400


def test_a_supervisor_monitors_whispers_and_barges_into_a_distributed_conversation(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "li", LI, "product", talk=3600)
    boss_phone = "+8613900000099"
    with app.app_context():
        create_agent(db.session, "boss", password="password1", phone=boss_phone,
                     role=Role.SUPERVISOR)  # fmt: skip
        db.session.commit()
    live_phone.add_agent(ScriptedAgent(boss_phone, answer_after=1.0, talk_seconds=3600))
    handle = live_phone.start(Caller(number="+8613800000007", script=[Press("1"), Press("1")]))
    until(lambda: LI in handle.run.result.heard_in_conference)
    until(lambda: _stay(app).conference_sid is not None)  # the room's first report has come
    entry = _stay(app)
    assert entry.state == EntryState.BRIDGED
    entry_id, agent_leg = entry.id, entry.agent_call_sid
    sign_in(client, "boss", "password1")

    def supervise(mode: str) -> None:
        reply = client.post(f"/live/calls/{entry_id}/supervise",
                            data={"mode": mode, "csrf_token": csrf(client, "/live")})  # fmt: skip
        assert reply.status_code == 302

    def boss() -> Participant | None:
        with live_phone.lock:
            room = live_phone.conferences.participant_of(handle.sid)
            if room is None:
                return None
            return next((p for p in room.conference.participants if p.run.party == boss_phone),
                        None)  # fmt: skip

    supervise("monitor")
    until(lambda: boss() is not None)
    with live_phone.lock:
        assert boss().muted and not boss().coaching  # type: ignore[union-attr]
    supervise("whisper")
    until(lambda: boss() is not None and boss().coaching)  # type: ignore[union-attr]
    with live_phone.lock:
        assert boss().call_sid_to_coach == agent_leg and not boss().muted  # type: ignore[union-attr]
        assert boss_phone not in handle.run.result.heard_in_conference  # the caller never heard
    supervise("barge")
    until(lambda: boss_phone in handle.run.result.heard_in_conference)
    reply = client.post("/api/v1/agents/li/conversation", json={"action": "hang_up"},
                        headers=auth(make_token(app)))  # fmt: skip
    assert reply.status_code == 200
    result = handle.result(timeout=60)
    assert result.errors == [], result.transcript_text()
    record = client.get(f"/api/v1/calls/{result.sid}", headers=auth(make_token(app))).json
    modes = [e["detail"]["mode"] for e in record["events"]
             if e["kind"] in ("supervisor_joined", "supervisor_mode")]  # fmt: skip
    assert modes == ["monitor", "whisper", "barge"]


def test_a_blind_transfer_to_an_agent_and_one_who_does_not_answer(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "li", LI, "product", talk=3600)
    staff(app, live_phone, "wang", WANG, "product", talk=3600)
    token = make_token(app)
    with app.app_context():  # wang is busy at first: the caller goes to li
        set_presence(db.session.scalars(select(Agent).where(Agent.name == "wang")).one(),
                     Presence.BUSY)  # fmt: skip
        db.session.commit()
    handle = live_phone.start(Caller(number="+8613800000005", script=[Press("1"), Press("1")]))
    until(lambda: LI in handle.run.result.heard_in_conference)
    # wang is not free: the transfer is refused and nothing changes.
    reply = client.post("/api/v1/agents/li/conversation", json={"action": "transfer",
                        "agent": "wang"}, headers=auth(token))  # fmt: skip
    assert reply.status_code == 409 and "not free" in reply.json["error"]["message"]
    client.post("/api/v1/agents/wang/presence", json={"presence": "available"},
                headers=auth(token))  # fmt: skip
    reply = client.post("/api/v1/agents/li/conversation", json={"action": "transfer",
                        "agent": "wang"}, headers=auth(token))  # fmt: skip
    assert reply.status_code == 200, reply.json
    until(lambda: WANG in handle.run.result.heard_in_conference)
    client.post("/api/v1/agents/wang/conversation", json={"action": "hang_up"},
                headers=auth(token))  # fmt: skip
    result = handle.result(timeout=60)
    assert result.errors == [], result.transcript_text()
    record = client.get(f"/api/v1/calls/{result.sid}", headers=auth(token)).json
    transferred = [e["detail"] for e in record["events"] if e["kind"] == "transferred"]
    assert transferred == [{"agent": "li", "to": "wang", "how": "blind"}]
    with app.app_context():
        stays = db.session.scalars(select(QueueEntry).order_by(QueueEntry.id)).all()
        li_id = db.session.scalars(select(Agent.id).where(Agent.name == "li")).one()
        assert [(s.state, s.transferred_from) for s in stays] == [
            (EntryState.DONE, None),
            (EntryState.DONE, li_id),
        ]


@pytest.mark.slow  # the consulted phone rings out: seconds of real time
def test_a_blind_transfer_nobody_answers_leaves_the_caller_in_line_for_anyone(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "li", LI, "product", talk=3600)
    with app.app_context():
        create_agent(db.session, "wang", password="password1", phone=WANG, languages=["zh"],
                     topics=["product"])  # fmt: skip
        set_presence(db.session.scalars(select(Agent).where(Agent.name == "wang")).one(),
                     Presence.AVAILABLE)  # fmt: skip
        db.session.commit()
    live_phone.add_agent(ScriptedAgent(WANG, answers=False))
    token = make_token(app)
    handle = live_phone.start(Caller(number="+8613800000004", script=[Press("1"), Press("1")]))
    until(lambda: LI in handle.run.result.heard_in_conference)
    reply = client.post("/api/v1/agents/li/conversation", json={"action": "transfer",
                        "agent": "wang"}, headers=auth(token))  # fmt: skip
    assert reply.status_code == 200, reply.json
    # wang lets it ring out; li, free again after the transfer, is offered the caller.
    until(lambda: _started(app) == 2, timeout=60)  # li is back in the room with them
    with app.app_context():
        last = db.session.scalars(select(QueueEntry).order_by(QueueEntry.id.desc())).first()
        assert last is not None
        assert db.session.get(Agent, last.agent_id).name == "li"  # type: ignore[union-attr]
    client.post("/api/v1/agents/li/conversation", json={"action": "hang_up"}, headers=auth(token))
    result = handle.result(timeout=60)
    assert result.errors == [], result.transcript_text()


def _started(app: Flask) -> int:
    """How many conversations of the call have begun (an agent in the room with the caller)."""
    with app.app_context():
        kinds = db.session.scalars(select(CallEvent.kind)).all()
        return kinds.count("conversation_started")


def test_a_warm_transfer_consults_then_hands_over_and_a_number_joins(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "li", LI, "product", talk=3600)
    staff(app, live_phone, "wang", WANG, "payment", talk=3600)
    courier = "+8613700000001"
    live_phone.add_agent(ScriptedAgent(courier, answer_after=1.0, talk_seconds=3600))
    token = make_token(app)

    def act(name: str, **body: str) -> None:
        reply = client.post(f"/api/v1/agents/{name}/conversation", json=body, headers=auth(token))
        assert reply.status_code == 200, reply.json

    handle = live_phone.start(Caller(number="+8613800000003", script=[Press("1"), Press("1")]))
    until(lambda: LI in handle.run.result.heard_in_conference)
    caller = participant(live_phone, handle.sid)
    reply = client.post("/api/v1/agents/li/conversation", json={"action": "hand_over"},
                        headers=auth(token))  # fmt: skip
    assert reply.status_code == 409  # nobody consulted yet
    act("li", action="consult", agent="wang")
    # The caller holds while li and wang talk; the caller never hears wang before the hand-over.
    until(lambda: _agents_in_room(live_phone, handle.sid) == {LI, WANG})
    until(lambda: _stay(app).state == EntryState.BRIDGED)  # the app heard wang join the room
    assert caller().hold  # type: ignore[union-attr]
    assert WANG not in handle.run.result.heard_in_conference
    act("li", action="hand_over")
    until(lambda: WANG in handle.run.result.heard_in_conference)
    until(lambda: _agents_in_room(live_phone, handle.sid) == {WANG})
    # Only numbers the hotline may call (HOTLINE_DIAL_PREFIXES, +86 by default): no toll fraud.
    reply = client.post("/api/v1/agents/wang/conversation", headers=auth(token),
                        json={"action": "add_number", "number": "+2399999999"})  # fmt: skip
    assert reply.status_code == 409 and "may not call" in reply.json["error"]["message"]
    act("wang", action="add_number", number=courier)
    until(lambda: courier in handle.run.result.heard_in_conference)
    act("wang", action="hang_up")
    result = handle.result(timeout=60)
    assert result.errors == [], result.transcript_text()
    assert "请为本次服务评分，非常满意请按5，非常不满意请按1。" in result.said()
    record = client.get(f"/api/v1/calls/{result.sid}", headers=auth(token)).json
    kinds = [e["kind"] for e in record["events"]]
    assert kinds.count("conversation_ended") == 2 and "consulting" in kinds
    transferred = [e["detail"] for e in record["events"] if e["kind"] == "transferred"]
    assert transferred == [{"agent": "li", "to": "wang", "how": "warm"}]
    added = [e["detail"] for e in record["events"] if e["kind"] == "number_added"]
    assert added == [{"agent": "wang", "number": courier}]


def test_a_three_way_call_keeps_the_caller_and_both_agents_in_the_room(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "li", LI, "product", talk=3600)
    staff(app, live_phone, "wang", WANG, "payment", talk=3600)
    token = make_token(app)

    def act(name: str, **body: str) -> None:
        reply = client.post(f"/api/v1/agents/{name}/conversation", json=body, headers=auth(token))
        assert reply.status_code == 200, reply.json

    handle = live_phone.start(Caller(number="+8613800000006", script=[Press("1"), Press("1")]))
    caller_number = handle.run.party
    until(lambda: LI in handle.run.result.heard_in_conference)
    caller = participant(live_phone, handle.sid)
    act("li", action="consult", agent="wang")
    until(lambda: _agents_in_room(live_phone, handle.sid) == {LI, WANG})
    until(lambda: _stay(app).state == EntryState.BRIDGED)  # the app heard wang join the room
    assert caller().hold and WANG not in handle.run.result.heard_in_conference  # type: ignore[union-attr]
    act("li", action="three_way")
    until(lambda: not caller().hold)  # type: ignore[union-attr]
    # All three in one room, each hearing the other two.
    assert _hearing(live_phone, handle.sid) == {
        caller_number: {LI, WANG},
        LI: {caller_number, WANG},
        WANG: {caller_number, LI},
    }
    assert handle.run.result.heard_in_conference == [LI, WANG]
    record = client.get(f"/api/v1/calls/{handle.sid}", headers=auth(token)).json
    transferred = [e["detail"] for e in record["events"] if e["kind"] == "transferred"]
    assert transferred == [{"agent": "li", "to": "wang", "how": "three_way"}]
    # li leaves: the caller stays with wang, whose leaving then ends the conversation.
    act("li", action="hang_up")
    until(lambda: _agents_in_room(live_phone, handle.sid) == {WANG})
    assert _hearing(live_phone, handle.sid) == {caller_number: {WANG}, WANG: {caller_number}}
    act("wang", action="hang_up")
    result = handle.result(timeout=60)
    assert result.errors == [], result.transcript_text()
    assert "请为本次服务评分，非常满意请按5，非常不满意请按1。" in result.said()
    record = client.get(f"/api/v1/calls/{result.sid}", headers=auth(token)).json
    ended = [e["detail"]["agent"] for e in record["events"] if e["kind"] == "conversation_ended"]
    assert sorted(ended) == ["li", "wang"]
    with app.app_context():
        stays = db.session.scalars(select(QueueEntry).order_by(QueueEntry.id)).all()
        assert [s.state for s in stays] == [EntryState.DONE, EntryState.DONE]
        assert all(s.talk_seconds is not None for s in stays)


def _hearing(phone: Simulator, call_sid: str) -> dict[str, set[str]]:
    """Who each party in the caller's room hears now, by number."""
    with phone.lock:
        found = phone.conferences.participant_of(call_sid)
        assert found is not None
        everyone = found.conference.participants
        return {
            listener.run.party: {p.run.party for p in everyone if p.heard_by(listener)}
            for listener in everyone
        }


def _stay(app: Flask) -> QueueEntry:
    """The caller's latest stay, as the app holds it now."""
    with app.app_context():
        entry = db.session.scalars(select(QueueEntry).order_by(QueueEntry.id.desc())).first()
        assert entry is not None
        db.session.expunge(entry)
        return entry


def _agents_in_room(phone: Simulator, call_sid: str) -> set[str]:
    with phone.lock:
        found = phone.conferences.participant_of(call_sid)
        if found is None:
            return set()
        return {p.run.party for p in found.conference.participants if p.call_sid != call_sid}


def test_the_board_s_controls_hold_and_transfer_the_caller(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "li", LI, "product", talk=3600)
    staff(app, live_phone, "wang", WANG, "payment", talk=3600)
    sign_in(client, "li", "password1")
    zh = {"Accept-Language": "zh"}
    # Nothing to act on yet: a clear message, in the reader's language.
    reply = client.post("/board/call/hold", data={"csrf_token": csrf(client, "/board")},
                        headers=zh, follow_redirects=True)  # fmt: skip
    assert "未完成：li 当前没有通话" in reply.get_data(as_text=True)
    handle = live_phone.start(Caller(number="+8613800000002", script=[Press("1"), Press("1")]))
    until(lambda: LI in handle.run.result.heard_in_conference)
    board = client.get("/board", headers=zh).get_data(as_text=True)
    assert 'class="call-controls"' in board and "转接给" in board
    reply = client.post("/board/call/hold", data={"csrf_token": csrf(client, "/board")},
                        headers=zh, follow_redirects=True)  # fmt: skip
    assert "已完成：来电者已保持。" in reply.get_data(as_text=True)
    caller = participant(live_phone, handle.sid)
    until(lambda: caller() is not None and caller().hold)  # type: ignore[union-attr]
    client.post("/board/call/transfer", headers=zh,
                data={"target": "queue:payment", "csrf_token": csrf(client, "/board")})  # fmt: skip
    until(lambda: WANG in handle.run.result.heard_in_conference)
    reply = client.post("/api/v1/agents/wang/conversation", json={"action": "hang_up"},
                        headers=auth(make_token(app)))  # fmt: skip
    assert reply.status_code == 200
    assert handle.result(timeout=60).errors == []


def test_a_call_back_rings_the_customer_into_the_room_where_hold_works(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "li", LI, "product", talk=3600)
    customer = "+8613800000008"
    live_phone.add_agent(ScriptedAgent(customer, answer_after=1.0, talk_seconds=3600))
    token = make_token(app)
    with app.app_context():  # li is busy: the caller asks to be called back instead of waiting
        set_presence(db.session.scalars(select(Agent)).one(), Presence.BUSY)
        db.session.commit()
    asked = live_phone.start(Caller(number=customer, script=[Press("1"), Press("1"), Press("2")]))
    assert asked.result(timeout=60).errors == []
    assert _stay(app).state == EntryState.CALLBACK
    # li is free: the hotline rings li, then the customer into li's room.
    client.post("/api/v1/agents/li/presence", json={"presence": "available"}, headers=auth(token))
    until(lambda: _stay(app).state == EntryState.DIALING and _stay(app).caller_leg is not None)
    leg = _stay(app).caller_leg
    until(lambda: _started(app) == 1)  # li and the customer are in the room together
    reply = client.post("/api/v1/agents/li/conversation", json={"action": "hold"},
                        headers=auth(token))  # fmt: skip
    assert reply.status_code == 200, reply.json
    held = participant(live_phone, leg or "")
    until(lambda: held() is not None and held().hold)  # type: ignore[union-attr]
    reply = client.post("/api/v1/agents/li/conversation", json={"action": "transfer",
                        "queue": "payment"}, headers=auth(token))  # fmt: skip
    assert reply.status_code == 409 and "call-back" in reply.json["error"]["message"]
    reply = client.post("/api/v1/agents/li/conversation", json={"action": "hang_up"},
                        headers=auth(token))  # fmt: skip
    assert reply.status_code == 200
    until(lambda: _stay(app).state == EntryState.DONE)
    with app.app_context():
        kinds = db.session.scalars(select(CallEvent.kind)).all()
        assert "callback_done" in kinds and "held" in kinds
