"""An agent calls a message back: their phone rings first, then the customer's, from the hotline."""

from __future__ import annotations

import re
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.database import db
from ivr.models import AuditEvent
from ivr.queues.agents import create_agent
from ivr.simulator import Caller, Press, Simulator, Speak, tone_wav
from ivr.simulator.agents import Agent as ScriptedAgent
from tests.factories import csrf, sign_in
from voicemail.models import CaseStatus, Note, Voicemail

CUSTOMER = "+8613811112222"
HOTLINE = "+864000000000"  # the number the customer dialled (the simulated Caller's default)
LI = "+8613900000001"


def notes(app: Flask, message_id: int) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Note.body).where(Note.voicemail_id == message_id)))


def first_notes(app: Flask, message_id: int) -> list[str]:
    """The message's notes, once the call-back has written any (30 s at most)."""
    deadline = time.monotonic() + 30
    while not notes(app, message_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    return notes(app, message_id)


def leave_message(app: Flask, phone: Simulator) -> int:
    phone.call(Caller(number=CUSTOMER, script=[Press("1"), Press("9"), Speak(tone_wav(2.0))]))
    with app.app_context():
        return db.session.scalars(select(Voicemail.id)).one()


def add_li(app: Flask, phone: str = LI) -> None:
    with app.app_context():
        create_agent(db.session, "li", password="correct horse", phone=phone,
                     languages=["zh"], topics=["product"])  # fmt: skip
        db.session.commit()


def ready_to_call_back(
    app: Flask, client: FlaskClient, phone: Simulator, customer: ScriptedAgent
) -> int:
    """A message left, Li signed in with a phone that answers, and ``customer`` on the line."""
    message_id = leave_message(app, phone)
    add_li(app)
    phone.add_agent(ScriptedAgent(LI, answer_after=1.0, talk_seconds=30.0))
    phone.add_agent(customer)
    sign_in(client)
    return message_id


@pytest.mark.slow  # seconds of real time: the quick loop leaves it to the full run
def test_call_back_rings_the_agent_then_the_customer_and_answers_the_message(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    customer = ScriptedAgent(CUSTOMER, answer_after=2.0, talk_seconds=25.0)
    message_id = ready_to_call_back(app, client, live_phone, customer)
    page = client.get(f"/inbox/{message_id}").get_data(as_text=True)
    assert 'id="call-back"' in page and "tel:" not in page
    reply = client.post(f"/inbox/{message_id}/call-back",
                        data={"csrf_token": csrf(client, f"/inbox/{message_id}")},
                        follow_redirects=True)  # fmt: skip
    assert "Your phone rings now" in reply.get_data(as_text=True)

    [note] = first_notes(app, message_id)
    # 25 s of talk on the simulator's real-time clock: a loaded machine adds a second or two.
    talked = re.fullmatch(rf"☎ {re.escape(CUSTOMER)}: (\d+) s \(CA\w{{32}}\)", note)
    assert talked is not None and 25 <= int(talked[1]) <= 30, note
    legs = {r.to: r for r in live_phone.outbound_results}
    assert legs[LI].errors == [] and legs[CUSTOMER].errors == []
    assert any("回电" in said for said in legs[LI].said("cmn-CN"))  # whom the agent calls
    assert f"call from {HOTLINE}" in legs[CUSTOMER].transcript_text()  # not the agent's own
    with app.app_context():
        message = db.session.get(Voicemail, message_id)
        assert message is not None
        assert message.case_status == CaseStatus.ANSWERED and message.answered_at is not None
        assert message.assigned_agent_id is not None
        kept = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "case_status"))
        moves = [(e.detail["from"], e.detail["to"], e.detail["via"], e.actor) for e in kept]
    # Both moves of the case are in the audit log, by the agent who called back.
    assert [m[:3] for m in moves] == [
        ("received", "in_progress", "call-back"),
        ("in_progress", "answered", "call-back"),
    ]
    assert moves[0][3] == moves[1][3] and moves[0][3].startswith("agent:")


@pytest.mark.slow  # seconds of real time: the quick loop leaves it to the full run
def test_a_call_back_nobody_answers_is_noted_and_leaves_the_case_open(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    never_picks_up = ScriptedAgent(CUSTOMER, answers=False)
    message_id = ready_to_call_back(app, client, live_phone, never_picks_up)
    client.post(f"/inbox/{message_id}/call-back",
                data={"csrf_token": csrf(client, f"/inbox/{message_id}")})  # fmt: skip
    [note] = first_notes(app, message_id)
    assert note.startswith(f"☎ {CUSTOMER}: no-answer")
    with app.app_context():
        message = db.session.get(Voicemail, message_id)
        assert message is not None and message.case_status == CaseStatus.IN_PROGRESS


def test_no_call_back_without_the_agents_phone_or_the_callers_number(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    message_id = leave_message(app, live_phone)
    add_li(app, phone="")
    sign_in(client)
    token = csrf(client, f"/inbox/{message_id}")
    reply = client.post(f"/inbox/{message_id}/call-back", data={"csrf_token": token},
                        follow_redirects=True)  # fmt: skip
    assert "Your account has no phone number" in reply.get_data(as_text=True)
    with app.app_context():
        message = db.session.get(Voicemail, message_id)
        assert message is not None
        message.from_number = "anonymous"
        db.session.commit()
    reply = client.post(f"/inbox/{message_id}/call-back", data={"csrf_token": token},
                        follow_redirects=True)  # fmt: skip
    assert "number is unknown: they cannot be called back" in reply.get_data(as_text=True)
    assert live_phone.outbound_results == [] and notes(app, message_id) == []
    assert client.post(f"/inbox/{message_id}/call-back").status_code == 400  # no CSRF token
