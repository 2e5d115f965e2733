"""A call-back from the inbox is recorded like a conversation from a queue: the customer hears the
notice first, each side is on its own channel (the agent's leg is recorded, so the customer is on
channel 2), the agent pauses it from the message page, and the real worker transcribes it by
speaker; the message page shows the turns."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.database import db
from ivr.queues.agents import create_agent
from ivr.simulator import Caller, Press, Simulator, Speak, Utterance, tone_wav
from ivr.simulator.agents import Agent as ScriptedAgent
from tests.e2e.conftest import simulator_for
from tests.e2e.test_conversation_recording import NOTICE, cut
from tests.factories import csrf, sign_in, until
from voicemail.models import ConversationRecording, Voicemail, VoicemailStatus
from voicemail.transcription import packaged_model_path
from voicemail.worker import work

CUSTOMER = "+8613811112222"
LI = "+8613900000001"
SCALE = 0.2
# Simulated seconds after the two are connected: li speaks first, the customer later.
AGENT_SAYS, CUSTOMER_SAYS, TALK = 1.0, 9.0, 22.0


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    app_settings["VOSK_MODEL_ZH"] = str(packaged_model_path("ko"))
    return app_settings


@pytest.fixture
def phone(live_server: str, media: Any) -> Iterator[Simulator]:
    simulator = simulator_for(live_server, media, time_scale=SCALE)
    yield simulator
    simulator.close()


def call_back_recording(app: Flask) -> ConversationRecording | None:
    with app.app_context():
        row = db.session.scalars(select(ConversationRecording)).first()
        db.session.expunge_all()
        return row


def send(client: FlaskClient, path: str, page: str, **fields: str) -> str:
    reply = client.post(path, data={"csrf_token": csrf(client, page), **fields},
                        follow_redirects=True)  # fmt: skip
    return reply.get_data(as_text=True)


@pytest.mark.slow
@pytest.mark.speech
def test_a_call_back_is_recorded_after_the_notice_paused_and_transcribed_by_speaker(
    app: Flask, client: FlaskClient, phone: Simulator
) -> None:
    phone.call(Caller(number=CUSTOMER, script=[Press("1"), Press("9"), Speak(tone_wav(2.0))]))
    with app.app_context():
        message_id = db.session.scalars(select(Voicemail.id)).one()
        create_agent(db.session, "li", password="correct horse", phone=LI, languages=["zh"],
                     topics=["product"])  # fmt: skip
        db.session.commit()
    phone.add_agent(ScriptedAgent(LI, answer_after=1.0, talk_seconds=60, says=[
        Utterance.of(cut("zeroth_104_003_0294.flac", 4.5), AGENT_SAYS)]))  # fmt: skip
    phone.add_agent(ScriptedAgent(CUSTOMER, answer_after=2.0, talk_seconds=TALK, says=[
        Utterance.of(cut("zeroth_104_003_0193.flac", 4.5), CUSTOMER_SAYS)]))  # fmt: skip
    sign_in(client)
    page = f"/inbox/{message_id}"
    assert "Your phone rings now" in send(client, f"{page}/call-back", page)

    # Twilio reports the recording started when the customer is put through: pause, resume.
    until(lambda: (r := call_back_recording(app)) is not None and r.recording_sid is not None)
    assert 'id="pause-recording"' in client.get(page).get_data(as_text=True)
    assert "Recording paused." in send(client, f"{page}/call-back/recording", page, pause="1")
    assert "Recording resumed." in send(client, f"{page}/call-back/recording", page, pause="0")
    until(lambda: call_back_recording(app).status == VoicemailStatus.PENDING)  # type: ignore[union-attr]
    assert 'id="pause-recording"' not in client.get(page).get_data(as_text=True)

    legs = {r.to: r for r in phone.outbound_results}
    assert NOTICE in legs[CUSTOMER].said("cmn-CN")  # the customer heard it before talking
    assert NOTICE not in legs[LI].said("cmn-CN")
    assert work(app, burst=True) == 2  # the message, then the call-back's conversation
    row = call_back_recording(app)
    assert row is not None and row.status == VoicemailStatus.TRANSCRIBED, row.status_reason
    assert (row.direction, row.voicemail_id, row.channels, row.customer_channel) == (
        "callback", message_id, 2, 2)  # fmt: skip
    assert row.recording_duration is not None and row.recording_duration <= TALK + 1
    assert len(row.pauses) == 1
    # Each side under its own name: li spoke first, the customer some seconds later.
    turns = row.turns or []
    first = {speaker: min(t["start"] for t in turns if t["speaker"] == speaker)
             for speaker in ("agent", "customer")}  # fmt: skip
    assert first["agent"] < AGENT_SAYS + 3 <= CUSTOMER_SAYS - 1 < first["customer"], turns

    text = client.get(page, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "客户" in text and "客服" in text and "录音已暂停" in text
    customer_words = next(t["text"] for t in turns if t["speaker"] == "customer")
    assert customer_words.split()[0] in text
