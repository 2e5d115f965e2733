"""Supervisors' actions as plain functions over the real database, with signed webhooks and a
loopback REST stand-in for Twilio: moving a waiting caller, presence, the live figures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.clock import utcnow
from ivr.database import db
from ivr.hotline import hotline
from ivr.models import Agent, AuditEvent, Call, CallEvent, EntryState, Presence, QueueEntry, Role
from ivr.queues.agents import AgentError, create_agent, disable_agent
from ivr.queues.supervision import (
    SupervisionError,
    live_agents,
    live_waiting,
    move_caller,
    set_agent_presence,
    supervise,
)
from ivr.twilio.urls import external_url
from tests.conftest import PUBLIC_BASE_URL, Twilio
from tests.factories import (
    SID,
    add_agent,
    call_params,
    entries,
    path_of,
    sign_in,
    to_queue,
    use_rest,
    wait_loop,
)
from tests.loopback import RestCalls
from tests.twiml import Doc


@pytest.fixture
def app_settings(app_settings: dict[str, Any], rest: str) -> dict[str, Any]:
    return use_rest(app_settings, rest)


def supervisor(name: str = "boss", role: Role = Role.SUPERVISOR) -> Agent:
    agent = create_agent(db.session, name, password="password1", role=role,
                         phone="+8613900000009")  # fmt: skip
    db.session.commit()
    return agent


def waiting_for_payment(app: Flask, twilio: Twilio) -> Doc:
    """A caller in the payment queue (kim signed in for it), li free for products."""
    add_agent(app, "kim", ["zh"], ["payment"])
    add_agent(app, "li", ["zh"], ["product"])
    doc = to_queue(twilio, option="3")
    wait_loop(twilio, doc)
    return doc


def move(app: Flask, node: str, by: str = "boss") -> str:
    with app.test_request_context("/"):
        boss = db.session.scalars(select(Agent).where(Agent.name == by)).one()
        entry = db.session.scalars(select(QueueEntry).order_by(QueueEntry.id.desc())).first()
        return move_caller(db.session, app.config, hotline().menu, boss, entry, node, external_url)


def kinds(app: Flask) -> list[tuple[str, dict[str, Any]]]:
    with app.app_context():
        return [
            (e.kind, e.detail) for e in db.session.scalars(select(CallEvent).order_by(CallEvent.id))
        ]


def test_a_moved_caller_leaves_the_old_queue_as_moved_and_waits_in_the_new_one(
    app: Flask, twilio: Twilio
) -> None:
    doc = waiting_for_payment(app, twilio)
    with app.app_context():
        supervisor()
    assert move(app, "product") == "product-zh"
    [update] = RestCalls.placed
    assert update["path"].endswith(f"/Calls/{SID}.json")
    target = urlsplit(update["Url"])
    assert f"{target.scheme}://{target.netloc}" == PUBLIC_BASE_URL
    assert target.path == "/voice/node/product"
    query = parse_qs(target.query)
    assert query["lang"] == ["zh"]
    [stay] = entries(app)
    assert (stay.state, stay.leave_reason) == (EntryState.MOVED, "moved")
    assert ("moved", {"from": "payment-zh", "to": "product-zh", "by": "boss"}) in kinds(app)

    # A hold-music request already on its way does not open a second stay in the old queue.
    wait_loop(twilio, doc, QueueTime="5")
    assert len(entries(app)) == 1

    # Twilio takes the call out of the queue and requests the Enqueue action (answer ignored):
    # the stay ends as moved; the old queue's fallback (a message) is not entered.
    action = path_of(doc.root.find("Enqueue").get("action", ""))  # type: ignore[union-attr]
    after = Doc.parse(
        twilio.post(action, call_params(QueueResult="redirected", QueueTime="12")).data
    )
    assert "Record" not in after.verbs() and after.said() == []
    [stay] = entries(app)
    assert (stay.state, stay.result, stay.wait_seconds) == (EntryState.MOVED, "redirected", 12)
    with app.app_context():
        call = db.session.scalars(select(Call)).one()
        assert "message" not in call.path

    # Then the update's URL: the new queue's node puts the caller in line there.
    new = Doc.parse(twilio.post(update["Url"].removeprefix(PUBLIC_BASE_URL), call_params()).data)
    enqueue = new.root.find("Enqueue")
    assert enqueue is not None and enqueue.text == "product-zh"
    wait_loop(twilio, new)
    # Its step was new to the call: logged, not taken for a retry of an earlier one.
    entered = [d["queue"] for k, d in kinds(app) if k == "queue_entered"]
    assert entered == ["payment-zh", "product-zh"]
    assert [(s.queue, s.state) for s in entries(app)] == [
        ("payment-zh", EntryState.MOVED),
        ("product-zh", EntryState.WAITING),
    ]
    with app.app_context():
        audit = db.session.scalars(select(AuditEvent)).all()
        assert [(a.action, a.actor, a.detail["to"]) for a in audit] == [
            ("caller_move", "agent:boss", "product-zh")
        ]


def test_a_move_twilio_refuses_leaves_the_caller_waiting(app: Flask, twilio: Twilio) -> None:
    waiting_for_payment(app, twilio)
    with app.app_context():
        supervisor()
    app.config["TWILIO_API_BASE_URL"] = "http://127.0.0.1:9"  # nothing listens: refused
    with pytest.raises(SupervisionError, match="Twilio refused"):
        move(app, "product")
    [stay] = entries(app)
    assert (stay.state, stay.leave_reason) == (EntryState.WAITING, None)
    assert [k for k, _ in kinds(app) if k.startswith("move")] == ["moved", "move_failed"]
    with app.app_context():
        assert db.session.scalars(select(AuditEvent)).all() == []


def test_moves_that_make_no_sense_are_refused(app: Flask, twilio: Twilio) -> None:
    waiting_for_payment(app, twilio)
    with app.app_context():
        supervisor()
    with pytest.raises(SupervisionError, match="already"):
        move(app, "payment")
    with pytest.raises(SupervisionError, match="not a queue"):
        move(app, "main")
    with app.app_context():  # an agent is being rung for them: they stay where they are
        entry = db.session.scalars(select(QueueEntry)).one()
        entry.state = EntryState.OFFERED
        db.session.commit()
    with pytest.raises(SupervisionError, match="no longer waiting"):
        move(app, "product")
    assert RestCalls.placed == []
    assert entries(app)[0].state == EntryState.OFFERED


def test_a_supervisor_sets_an_agents_presence_and_it_is_audited(app: Flask) -> None:
    with app.app_context():
        boss = supervisor()
        li = create_agent(db.session, "li", password="password1")
        set_agent_presence(db.session, boss, li, Presence.AVAILABLE)
        assert li.presence == Presence.AVAILABLE
        [line] = db.session.scalars(select(AuditEvent)).all()
        assert (line.action, line.actor, line.target) == ("presence_set", "agent:boss", "agent:li")
        assert line.detail == {"presence": "available", "before": "away"}
        with pytest.raises(SupervisionError, match="only supervisors"):
            set_agent_presence(db.session, li, boss, Presence.AWAY)
        disable_agent(li)
        db.session.commit()
        with pytest.raises(AgentError, match="disabled"):
            set_agent_presence(db.session, boss, li, Presence.AVAILABLE)
        assert db.session.get(Agent, li.id).presence == Presence.AWAY


def test_the_live_figures_show_who_rings_talks_and_waits_where(app: Flask) -> None:
    now = utcnow()
    with app.app_context():
        li = create_agent(db.session, "li", password="password1")
        wang = create_agent(db.session, "wang", password="password1")
        for n, (queue, state, agent, ago) in enumerate([
            ("product-zh", EntryState.WAITING, None, 30),
            ("product-zh", EntryState.WAITING, None, 10),
            ("payment-zh", EntryState.WAITING, None, 20),
            ("product-zh", EntryState.OFFERED, wang, 60),
            ("payment-zh", EntryState.BRIDGED, li, 90),
            ("payment-zh", EntryState.DONE, None, 200),
        ]):  # fmt: skip
            sid = f"CA{n:032d}"
            call = Call(sid=sid, from_number=f"+86138000000{n:02d}", to_number="+864000")
            db.session.add(call)
            db.session.flush()
            db.session.add(QueueEntry(
                call_id=call.id, call_sid=sid, queue=queue, topic=queue[:-3], language="zh",
                node=queue[:-3], from_number=call.from_number, state=state,
                agent_id=agent.id if agent else None, entered_at=now - timedelta(seconds=ago),
                offered_at=now - timedelta(seconds=5) if agent else None,
                bridged_at=now - timedelta(seconds=40) if state == EntryState.BRIDGED else None,
            ))  # fmt: skip
        db.session.commit()
        waiting = live_waiting(db.session, now)
        assert [(w["queue"], w["position"], w["waited"]) for w in waiting] == [
            ("product-zh", 1, 60),
            ("product-zh", 2, 30),
            ("payment-zh", 1, 20),
            ("product-zh", 3, 10),
        ]
        agents = {a["name"]: a["call"] for a in live_agents(db.session, now)}
        assert agents["li"]["state"] == "talking" and agents["li"]["for"] == 40
        assert agents["li"]["caller"] == "+8613800000004"
        assert agents["wang"]["state"] == "ringing" and agents["wang"]["queue"] == "product-zh"


def test_whom_supervise_refuses(app: Flask) -> None:
    with app.test_request_context("/"):
        boss = supervisor()
        li = supervisor("li", Role.AGENT)
        call = Call(sid=SID, from_number="+8613800000000", to_number="+864000")
        db.session.add(call)
        db.session.flush()
        entry = QueueEntry(call_id=call.id, call_sid=SID, queue="product-zh", topic="product",
                           language="zh", node="product", state=EntryState.WAITING)  # fmt: skip
        db.session.add(entry)
        db.session.commit()
        for who, mode, why in [(boss, "shout", "unknown mode"), (li, "monitor", "only supervisors"),
                               (boss, "monitor", "not talking")]:  # fmt: skip
            with pytest.raises(SupervisionError, match=why):
                supervise(db.session, app.config, who, entry, mode, external_url)
    assert RestCalls.placed == []


def test_agents_cannot_see_or_use_the_live_page(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        supervisor("li", Role.AGENT)
    sign_in(client, "li", "password1")
    for path in ("/live", "/live.json"):
        assert client.get(path).status_code == 403
    assert client.post("/live/agents/1/presence", data={"presence": "away"}).status_code in (
        400,
        403,
    )
    assert "/live" not in client.get("/board").get_data(as_text=True)


def test_a_supervisors_leg_ending_is_noted_once_in_the_call(app: Flask, twilio: Twilio) -> None:
    with app.app_context():
        boss = supervisor()
        call = Call(sid=SID, from_number="+8613800000000", to_number="+864000")
        db.session.add(call)
        db.session.commit()
        path = f"/voice/supervisor/status?call={SID}&supervisor={boss.id}"
    leg = "CA" + "7" * 32
    for _ in range(2):  # Twilio retries
        reply = twilio.post(path, call_params(CallSid=leg, CallStatus="completed"))
        assert reply.status_code == 204
    assert [d for k, d in kinds(app) if k == "supervisor_left"] == [
        {"supervisor": "boss", "leg": leg, "status": "completed"}
    ]
    unsigned = twilio.client.post(path, data=call_params(CallSid=leg, CallStatus="completed"))
    assert unsigned.status_code in (401, 403)
