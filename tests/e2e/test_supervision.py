"""Supervisors on live calls through the offline Twilio: move a waiting caller, set an agent's
presence, and monitor, whisper to and barge into a conversation's conference."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import Agent, AuditEvent, Call, CallEvent, EntryState, Presence, QueueEntry, Role
from ivr.queues.agents import create_agent, set_presence
from ivr.queues.conversation import conference_name
from ivr.simulator import Caller, Press, Simulator
from ivr.simulator.agents import Agent as ScriptedAgent
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.factories import csrf, menu_with, sign_in, until

PHONE = {"li": "+8613900000001", "kim": "+8613900000003", "boss": "+8613900000009"}
CALLER = "+8613800000001"


@pytest.fixture
def app_settings(app_settings: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The product queue rings agents for 10 s."""
    app_settings.update(HOTLINE_MENU=menu_with(tmp_path, product="ring_timeout: 10"),
                        HOTLINE_WRAPUP_SECONDS=0)  # fmt: skip
    return app_settings


def staff(app: Flask, phone: Simulator, name: str, topics: list[str], presence: Presence,
          role: Role = Role.AGENT, talk: float = 20) -> int:  # fmt: skip
    """An agent (or supervisor) and the scripted person at their phone; their id."""
    with app.app_context():
        agent = create_agent(db.session, name, password="password1", phone=PHONE[name],
                             languages=["zh"], topics=topics, role=role)  # fmt: skip
        set_presence(agent, presence)
        db.session.commit()
        ident = agent.id
    phone.add_agent(ScriptedAgent(PHONE[name], answer_after=1.0, talk_seconds=talk))
    return ident


def boss(app: Flask, client: FlaskClient, phone: Simulator) -> None:
    """The supervisor, signed in on the test client."""
    staff(app, phone, "boss", [], Presence.AWAY, role=Role.SUPERVISOR, talk=3000)
    sign_in(client, "boss", "password1")


def rows(app: Flask, model: Any, *where: Any) -> list[Any]:
    with app.app_context():
        found = list(db.session.scalars(select(model).where(*where).order_by(model.id)))
        db.session.expunge_all()
        return found


def kinds(app: Flask, sid: str) -> list[CallEvent]:
    call = rows(app, Call, Call.sid == sid)[0]
    return rows(app, CallEvent, CallEvent.call_id == call.id)


def test_a_supervisor_moves_a_waiting_caller_who_is_then_answered_from_the_new_queue(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "kim", ["payment"], Presence.BUSY)  # signed in, not free
    staff(app, live_phone, "li", ["product"], Presence.AVAILABLE)
    boss(app, client, live_phone)
    handle = live_phone.start(Caller(number=CALLER, script=[Press("1"), Press("3")]))
    until(lambda: len(rows(app, QueueEntry)) == 1)  # its first hold music was asked for
    entry = rows(app, QueueEntry)[0]
    page = client.get("/live").get_data(as_text=True)
    assert f'data-entry="{entry.id}"' in page and CALLER in page
    figures = client.get("/live.json").json
    assert [(w["queue"], w["position"]) for w in figures["waiting"]] == [("payment-zh", 1)]
    reply = client.post(f"/live/waiting/{entry.id}/move",
                        data={"node": "product", "csrf_token": csrf(client, "/live")})  # fmt: skip
    assert reply.status_code == 302
    result = handle.result(timeout=90)
    assert result.errors == [], result.transcript_text()
    assert result.talked_with() == PHONE["li"]
    stays = rows(app, QueueEntry)
    assert [(s.queue, s.state) for s in stays] == [
        ("payment-zh", EntryState.MOVED),
        ("product-zh", EntryState.DONE),
    ]
    assert stays[0].result == "redirected" and stays[0].leave_reason == "moved"
    events = kinds(app, result.sid)
    moved = [e.detail for e in events if e.kind == "moved"]
    assert moved == [{"from": "payment-zh", "to": "product-zh", "by": "boss"}]
    left = [e.detail for e in events if e.kind == "queue_left"]
    assert left[0]["result"] == "redirected" and left[0]["reason"] == "moved"
    assert [e.detail["queue"] for e in events if e.kind == "bridged"] == ["product-zh"]
    # Moved, not left: the old queue's fallback (a message) was never entered.
    assert "message" not in rows(app, Call)[0].path
    audit = rows(app, AuditEvent, AuditEvent.action == "caller_move")
    assert [(a.actor, a.target) for a in audit] == [("agent:boss", f"call:{result.sid}")]
    # The timeline shows it.
    timeline = client.get(f"/calls/{result.sid}").get_data(as_text=True)
    assert "boss moved the caller from" in timeline


def test_a_supervisor_makes_an_agent_available_who_is_then_rung_for_the_waiting_caller(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    li = staff(app, live_phone, "li", ["product"], Presence.BUSY)
    boss(app, client, live_phone)
    handle = live_phone.start(Caller(number=CALLER, script=[Press("1"), Press("1")]))
    until(lambda: len(live_phone.queue_sids("product-zh")) == 1)
    time.sleep(0.3)  # a few hold-music loops: li is busy, nobody is rung
    assert rows(app, Agent, Agent.id == li)[0].presence == Presence.BUSY
    reply = client.post(f"/live/agents/{li}/presence",
                        data={"presence": "available", "csrf_token": csrf(client, "/live")})  # fmt: skip
    assert reply.status_code == 302
    result = handle.result(timeout=90)
    assert result.talked_with() == PHONE["li"]
    audit = rows(app, AuditEvent, AuditEvent.action == "presence_set")
    assert [(a.actor, a.target, a.detail["presence"], a.detail["before"]) for a in audit] == [
        ("agent:boss", "agent:li", "available", "busy")
    ]


# -- monitor, whisper, barge ---------------------------------------------------------------------


def rest(phone: Simulator, method: str, path: str, **form: str) -> dict[str, Any]:
    """The simulated Twilio's REST API, as the lead's conversation code would call it."""
    url = f"{phone.api_base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/{path}"
    where = {"params": form} if method == "GET" else {"data": form}
    reply = requests.request(method, url, **where, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10)
    assert reply.status_code < 300, reply.text
    return reply.json()


def join_room(room: str) -> str:
    return f"<Response><Dial><Conference>{room}</Conference></Dial></Response>"


def participants(phone: Simulator, room: str) -> dict[str, dict[str, Any]]:
    listed = rest(phone, "GET", "Conferences.json", FriendlyName=room, Status="in-progress")
    if not listed["conferences"]:
        return {}
    sid = listed["conferences"][0]["sid"]
    found = rest(phone, "GET", f"Conferences/{sid}/Participants.json")["participants"]
    return {p["call_sid"]: p for p in found}


def hears(phone: Simulator, room: str, leg: str) -> set[str]:
    """Whom leg ``leg`` hears in room ``room`` now."""
    with phone.lock:
        heard = [h for c in phone.conferences if c.name == room for h in c.heard]
    return set([h.voices for h in heard if h.call_sid == leg][-1])


def conversation(app: Flask, phone: Simulator) -> tuple[QueueEntry, str, str]:
    """A caller talking to li in the call's conference, as the lead's code leaves them: the
    bridged stay, the caller's leg and li's leg."""
    staff(app, phone, "li", ["product"], Presence.BUSY, talk=3000)
    phone.add_agent(ScriptedAgent(CALLER, answer_after=0.5, talk_seconds=3000))
    hotline = "+864000000000"
    caller = rest(phone, "POST", "Calls.json", To=CALLER, From=hotline,
                  Twiml='<Response><Pause length="600"/></Response>')["sid"]  # fmt: skip
    until(lambda: rest(phone, "GET", f"Calls/{caller}.json")["status"] == "in-progress")
    room = conference_name(caller)
    rest(phone, "POST", f"Calls/{caller}.json", Twiml=join_room(room))
    agent = rest(phone, "POST", "Calls.json", To=PHONE["li"], From=hotline,
                 Twiml=join_room(room))["sid"]  # fmt: skip
    until(lambda: len(participants(phone, room)) == 2)
    with app.app_context():
        call = Call(sid=caller, from_number=CALLER, to_number=hotline, status="in-progress")
        db.session.add(call)
        db.session.flush()
        li = db.session.scalars(select(Agent).where(Agent.name == "li")).one()
        now = utcnow()
        entry = QueueEntry(call_id=call.id, call_sid=caller, queue="product-zh", topic="product",
                           language="zh", node="product", from_number=CALLER,
                           state=EntryState.BRIDGED, agent_id=li.id, offered_at=now,
                           bridged_at=now, agent_call_sid=agent)  # fmt: skip
        db.session.add(entry)
        db.session.commit()
        db.session.refresh(entry)
        db.session.expunge(entry)
    return entry, caller, agent


FLASH = re.compile(r'<p class="flash">([^<]*)</p>')


def supervise(client: FlaskClient, entry: QueueEntry, mode: str) -> str:
    reply = client.post(f"/live/calls/{entry.id}/supervise",
                        data={"mode": mode, "csrf_token": csrf(client, "/live")})  # fmt: skip
    assert reply.status_code == 302
    return FLASH.findall(client.get("/live").get_data(as_text=True))[-1]


def test_a_supervisor_monitors_then_whispers_then_barges_into_a_conversation(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    entry, caller, agent = conversation(app, live_phone)
    boss(app, client, live_phone)
    room = conference_name(caller)
    figures = client.get("/live.json").json
    li = next(a for a in figures["agents"] if a["name"] == "li")
    assert li["call"]["state"] == "talking" and li["call"]["caller"] == CALLER

    assert "phone rings" in supervise(client, entry, "monitor")
    until(lambda: len(participants(live_phone, room)) == 3)
    legs = participants(live_phone, room)
    (mine,) = set(legs) - {caller, agent}
    assert legs[mine]["muted"] is True and legs[mine]["coaching"] is False
    until(lambda: len(hears(live_phone, room, mine)) == 2)  # the supervisor hears both
    assert "supervisor-" not in " ".join(
        hears(live_phone, room, caller) | hears(live_phone, room, agent)
    )
    on = client.get("/live.json").json["agents"]
    assert any(o["name"] == "boss" and o["mode"] == "monitor"
               for a in on if a["call"] for o in a["call"]["supervisors"])  # fmt: skip

    supervise(client, entry, "whisper")
    legs = participants(live_phone, room)
    assert len(legs) == 3, "switched, not rung again"
    assert legs[mine]["muted"] is False and legs[mine]["coaching"] is True
    assert legs[mine]["call_sid_to_coach"] == agent
    assert any(v.startswith("supervisor-") for v in hears(live_phone, room, agent))
    assert not any(v.startswith("supervisor-") for v in hears(live_phone, room, caller))

    supervise(client, entry, "barge")
    legs = participants(live_phone, room)
    assert legs[mine]["muted"] is False and legs[mine]["coaching"] is False
    for leg in (caller, agent):
        assert any(v.startswith("supervisor-") for v in hears(live_phone, room, leg))

    events = [
        (e.kind, e.detail.get("mode"))
        for e in kinds(app, caller)
        if e.kind.startswith("supervisor")
    ]
    assert events == [("supervisor_joined", "monitor"), ("supervisor_mode", "whisper"),
                      ("supervisor_mode", "barge")]  # fmt: skip
    audit = rows(app, AuditEvent, AuditEvent.action.in_(("supervisor_join", "supervisor_mode")))
    assert [(a.action, a.detail["mode"]) for a in audit] == [
        ("supervisor_join", "monitor"),
        ("supervisor_mode", "whisper"),
        ("supervisor_mode", "barge"),
    ]

    # The supervisor hangs up: the call's timeline says so.
    rest(live_phone, "POST", f"Calls/{mine}.json", Status="completed")
    until(lambda: any(e.kind == "supervisor_left" for e in kinds(app, caller)))
    assert not any(
        a["call"]["supervisors"] for a in client.get("/live.json").json["agents"] if a["call"]
    )


def test_a_whisper_to_an_agent_on_hold_is_refused_with_a_clear_message(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    entry, caller, agent = conversation(app, live_phone)
    boss(app, client, live_phone)
    room = conference_name(caller)
    sid = rest(live_phone, "GET", "Conferences.json", FriendlyName=room)["conferences"][0]["sid"]
    rest(live_phone, "POST", f"Conferences/{sid}/Participants/{agent}.json", Hold="true")
    message = supervise(client, entry, "whisper")
    assert "on hold" in message and "li" in message
    assert len(participants(live_phone, room)) == 2  # nobody was rung
    assert not any(e.kind.startswith("supervisor") for e in kinds(app, caller))
    zh = {"Accept-Language": "zh"}
    client.post(f"/live/calls/{entry.id}/supervise", headers=zh,
                data={"mode": "whisper", "csrf_token": csrf(client, "/live")})  # fmt: skip
    page = client.get("/live", headers=zh).get_data(as_text=True)
    assert "li 已将来电者保持：现在无法对其耳语" in FLASH.findall(page)[-1]
    assert "通话中" in page and "插入通话" in page
