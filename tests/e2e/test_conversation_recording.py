"""A recorded conversation through the offline Twilio over real HTTP: a caller and an agent
speak (real speech), the agent pauses the recording mid-call, and the real worker transcribes
both sides; the call page and search read it back."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydub import AudioSegment
from sqlalchemy import select

from ivr.database import db
from ivr.models import Presence
from ivr.queues.agents import create_agent, set_presence
from ivr.simulator import Caller, Press, Simulator, Utterance, tone_wav
from ivr.simulator.agents import Agent as ScriptedAgent
from tests.e2e.conftest import simulator_for
from tests.factories import auth, make_token, menu_with, sign_in, until
from tests.speech import speech
from voicemail.models import ConversationRecording, VoicemailStatus
from voicemail.search import index_terms
from voicemail.transcription import packaged_model_path
from voicemail.worker import work

LI = "+8613900000001"
NOTICE = "为了提升服务质量，本次通话可能会被录音。"
SCALE = 0.2  # five simulated seconds in one real second
# Simulated seconds after li joins the room: li speaks, then pauses the recording while saying
# something private, resumes; the caller speaks later, counted from their own joining.
AGENT_SAYS, SECRET, PAUSE, RESUME = 1.0, 6.5, 5.5, 8.5
CALLER_SAYS, TALK = 17.0, 28.0


def cut(name: str, seconds: float) -> bytes:
    """The first ``seconds`` of a speech clip, as WAV."""
    out = io.BytesIO()
    AudioSegment.from_file(io.BytesIO(speech(name)))[: int(seconds * 1000)].export(out, "wav")
    return out.getvalue()


@pytest.fixture
def app_settings(app_settings: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    app_settings.update(HOTLINE_MENU=menu_with(tmp_path), HOTLINE_WRAPUP_SECONDS=0,
                        VOSK_MODEL_ZH=str(packaged_model_path("ko")))  # fmt: skip
    return app_settings


@pytest.fixture
def phone(live_server: str, media: Any) -> Iterator[Simulator]:
    simulator = simulator_for(live_server, media, time_scale=SCALE)
    yield simulator
    simulator.close()


def recording(app: Flask) -> ConversationRecording | None:
    with app.app_context():
        row = db.session.scalars(select(ConversationRecording)).first()
        db.session.expunge_all()
        return row


@pytest.mark.slow
@pytest.mark.speech
def test_a_recorded_conversation_is_paused_transcribed_by_side_and_found(
    app: Flask, client: FlaskClient, phone: Simulator
) -> None:
    with app.app_context():
        li = create_agent(db.session, "li", password="correct horse", phone=LI, languages=["zh"],
                          topics=["product"])  # fmt: skip
        set_presence(li, Presence.AVAILABLE)
        db.session.commit()
    says = [Utterance.of(cut("zeroth_104_003_0294.flac", 4.5), AGENT_SAYS),
            Utterance(tone_wav(1.0), SECRET)]  # fmt: skip
    phone.add_agent(ScriptedAgent(LI, answer_after=1.0, talk_seconds=TALK, says=says))
    caller = Caller(number="+8613800000009", script=[Press("1"), Press("1")],
                    says=[Utterance.of(cut("zeroth_104_003_0193.flac", 4.5), CALLER_SAYS)])  # fmt: skip
    handle = phone.start(caller)
    until(lambda: (r := recording(app)) is not None and r.recording_sid is not None)
    assert phone.shared_clock is not None
    started = phone.shared_clock.now()  # li is in the room: the recording runs

    token = make_token(app)

    def act(action: str, at: float) -> None:
        until(lambda: phone.shared_clock.now() >= started + at)  # type: ignore[union-attr]
        reply = client.post("/api/v1/agents/li/conversation", json={"action": action},
                            headers=auth(token))  # fmt: skip
        assert reply.status_code == 200, reply.json

    act("pause_recording", PAUSE)
    act("resume_recording", RESUME)
    result = handle.result(timeout=60)
    assert NOTICE in result.said("cmn-CN")  # before the caller waited
    until(lambda: recording(app).status == VoicemailStatus.PENDING)  # type: ignore[union-attr]

    assert work(app, burst=True) == 1
    row = recording(app)
    assert row is not None and row.status == VoicemailStatus.TRANSCRIBED, row.status_reason
    assert (row.direction, row.queue, row.channels) == ("inbound", "product-zh", 2)
    # Where the pause is, the app counts in real seconds since the recording started (Twilio
    # runs in real time; this stand-in five times faster).
    [(start, end)] = row.pauses
    assert PAUSE - 1 < start / SCALE < end / SCALE < RESUME + 1.5, row.pauses
    turns = row.turns or []
    speakers = {t["speaker"] for t in turns}
    assert speakers == {"customer", "agent"}, turns
    agent_text = " ".join(t["text"] for t in turns if t["speaker"] == "agent")
    customer_text = " ".join(t["text"] for t in turns if t["speaker"] == "customer")
    # The rating after li hung up is not in the recording (it stopped with the conversation):
    # its question alone lasts longer than the few simulated seconds a loaded machine adds.
    assert row.recording_duration is not None and row.recording_duration <= TALK + 4

    # A word only li said finds the conversation; the call page shows the turns and the pause.
    word = next(
        w["word"] for t in turns if t["speaker"] == "agent" for w in t["words"]
        if len(w["word"]) >= 2 and not index_terms(w["word"]) & index_terms(customer_text)
    )  # fmt: skip
    found = client.get("/api/v1/search", query_string={"q": word}, headers=auth(token)).json
    assert [(h["kind"], h["id"]) for h in found["data"]] == [("conversation", row.id)]
    sign_in(client)
    page = client.get(f"/calls/{handle.sid}", headers={"Accept-Language": "zh-CN"})
    text = page.get_data(as_text=True)
    assert "客户" in text and "客服" in text and "录音已暂停" in text
    assert agent_text.split()[0] in text
