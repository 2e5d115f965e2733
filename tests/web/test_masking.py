"""Caller numbers masked for agents without the right, whole for supervisors and agents given it;
a masked agent still calls back through the hotline (issue #16, point 5)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import Agent, Call, EntryState, QueueEntry, Role
from ivr.numbers import mask, normalise
from ivr.queues.agents import create_agent
from tests.conftest import Twilio
from tests.factories import add_message, csrf, sign_in, use_rest
from tests.loopback import RestCalls
from voicemail.models import ConversationRecording, Note, VoicemailStatus
from voicemail.search import index_conversation

NUMBER = "+8613800138000"  # add_message's caller
MASKED = "+86 138****8000"
SID = "CA" + "7" * 32

pytestmark = pytest.mark.usefixtures("manual_queues")


@pytest.fixture
def people(app_settings: dict[str, Any], rest: str, app: Flask) -> int:
    """Li (an agent, masked), Zhang (a supervisor), a call of the caller's offered to Li, and
    the caller's message; returns the message id."""
    use_rest(app_settings, rest)
    app.config.update(TWILIO_API_BASE_URL=rest, HOTLINE_ENV="development")
    message_id = add_message(app)
    with app.app_context():
        li = create_agent(db.session, "li", password="correct horse", phone="+8613900000001")
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        call = Call(sid=SID, from_number=NUMBER, to_number="+864000000000")
        db.session.add(call)
        db.session.flush()
        entry = QueueEntry(call_id=call.id, call_sid=SID, queue="product", topic="product",
                           language="zh", node="q", from_number=NUMBER, agent_id=li.id,
                           state=EntryState.OFFERED, offered_at=utcnow())  # fmt: skip
        db.session.add(entry)
        talk = ConversationRecording(
            call_id=call.id, call_sid=SID, from_number=NUMBER, queue="product", language="zh",
            recording_sid="RE" + "7" * 32, status=VoicemailStatus.TRANSCRIBED,
            transcript="我要退款", started_at=utcnow(),
            turns=[{"speaker": "customer", "start": 0.0, "end": 2.0, "text": "我要退款"}],
        )  # fmt: skip
        db.session.add(talk)
        db.session.flush()
        index_conversation(db.session, talk.id, talk.transcript or "")
        # A call-back writes the number it dialled into a note on the message.
        db.session.add(Note(voicemail_id=message_id, body=f"☎ {NUMBER}: 25 s (CA{'9' * 32})"))
        db.session.commit()
    return message_id


def pages(client: FlaskClient, message_id: int) -> dict[str, str]:
    """Every page (and the board's JSON) where an agent sees a caller's number."""
    return {
        "calls": client.get("/calls").get_data(as_text=True),
        "call": client.get(f"/calls/{SID}").get_data(as_text=True),
        "inbox": client.get("/inbox").get_data(as_text=True),
        # What a recorded conversation said, found by the inbox search.
        "search": client.get("/inbox?q=退款").get_data(as_text=True),
        "message": client.get(f"/inbox/{message_id}").get_data(as_text=True),
        "board": client.get("/board/live.json").get_data(as_text=True),
    }


def test_mask_keeps_country_code_and_ends() -> None:
    assert mask("+8613800138000") == MASKED
    assert mask("+86 138-0013-8000") == MASKED
    assert mask("13800138000") == "138****8000"
    assert mask("+14155550100") == "+1 415****0100"
    assert mask("anonymous") == "****" and mask("") == ""
    assert normalise("+86 (138) 0013-8000") == normalise("008613800138000") == NUMBER


def test_an_agent_sees_numbers_masked_everywhere(
    app: Flask, client: FlaskClient, people: int
) -> None:
    sign_in(client, "li")
    for name, page in pages(client, people).items():
        assert "13800138000" not in page, name
        assert "0013" not in page, name
        assert MASKED in page or "138****8000" in page, name
    assert f"☎ {MASKED}: 25 s" in pages(client, people)["message"]


def test_a_supervisor_sees_them_whole(app: Flask, client: FlaskClient, people: int) -> None:
    sign_in(client, "zhang")
    for name, page in pages(client, people).items():
        if name == "board":
            continue  # the call is offered to Li: Zhang's board has no pop
        assert NUMBER in page, name
        assert "****" not in page, name
    export = client.get("/export/calls.csv").get_data(as_text=True)
    assert NUMBER in export


def test_a_supervisor_gives_an_agent_the_right(
    app: Flask, client: FlaskClient, people: int
) -> None:
    sign_in(client, "zhang")
    with app.app_context():
        li = db.session.scalar(select(Agent).where(Agent.name == "li"))
        li_id = li.id
    token = csrf(client, "/agents")
    profile = {"csrf_token": token, "languages": ["zh"], "topics": ["product"],
               "phone": "+8613900000001"}  # fmt: skip
    saved = client.post(f"/agents/{li_id}", data={**profile, "sees_numbers": "1"})
    assert saved.status_code == 302
    client.get("/logout")
    sign_in(client, "li")
    for name, page in pages(client, people).items():
        assert NUMBER in page, name
    client.get("/logout")
    sign_in(client, "zhang")
    token = csrf(client, "/agents")
    assert client.post(f"/agents/{li_id}", data={**profile, "csrf_token": token}).status_code == 302
    client.get("/logout")
    sign_in(client, "li")
    assert NUMBER not in pages(client, people)["message"]


def test_a_masked_agent_calls_back_through_the_hotline(
    app: Flask, client: FlaskClient, twilio: Twilio, people: int
) -> None:
    sign_in(client, "li")
    page = client.get(f"/inbox/{people}").get_data(as_text=True)
    assert 'id="call-back"' in page and NUMBER not in page
    reply = client.post(f"/inbox/{people}/call-back",
                        data={"csrf_token": csrf(client, f"/inbox/{people}")},
                        follow_redirects=True)  # fmt: skip
    assert "Your phone rings now" in reply.get_data(as_text=True)
    [placed] = RestCalls.placed
    assert placed["To"] == "+8613900000001"
    # Li answers: the hotline dials the customer; the whisper reads only the last four digits.
    connect = urlsplit(placed["Url"])
    answered = twilio.post(f"{connect.path}?{connect.query}", {"CallSid": "CA" + "8" * 32,
                                                                "CallStatus": "in-progress"})  # fmt: skip
    twiml = answered.get_data(as_text=True)
    assert f">{NUMBER}</Number>" in twiml
    assert "8 0 0 0" in twiml or "8000" in twiml
    assert "1 3 8 0 0 1 3" not in twiml
