"""Recorded conversations through the real parts: a dual-channel recording of real speech served
with basic auth on loopback, the worker, ffmpeg, Vosk, the search index and the call page."""

from __future__ import annotations

import functools
import logging
import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import vosk
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import Call
from tests.factories import (
    agent,
    auth,
    export,
    make_token,
    sign_in,
    tone,
    tone_wav,
    use_media_host,
)
from tests.media_server import MediaHost, recording_url
from tests.speech import clip, speech
from voicemail.accuracy import character_error_rate
from voicemail.audio import decode, telephone_line
from voicemail.models import (
    ConversationAudio,
    ConversationRecording,
    QualityCheck,
    Voicemail,
    VoicemailStatus,
)
from voicemail.search import conversations_holding, index_conversation, index_terms
from voicemail.transcription import transcribe
from voicemail.worker import LeaseLost, claim_any, make_job, work

CUSTOMER_CLIP = "zeroth_104_003_0294.flac"  # 6.86 s: the customer speaks first
AGENT_CLIP = "zeroth_104_003_0193.flac"  # 8.82 s: then the agent answers
AGENT_FROM = 8.5  # seconds into the recording; 1.6 s of silence between them
CALL_SID = "CA" + "c" * 32
REC_SID = "RE" + "c" * 32
# Measured: as a message, the customer's clip gives CER 0.26 and the agent's 0.18-0.21 (Vosk's
# output moves by a character with where the audio's chunks and endpoints fall: the agent's clip
# padded with silence gives 0.18); as sides of the conversation 0.26 and 0.24. One character of
# these 31-34 character references is 0.03: a side may differ from the message by up to three.
CER_MARGIN = 0.1
CER_AT_MOST = 0.35


@functools.cache
def conversation_wav() -> bytes:
    """Both clips through a phone line, the customer on channel 1 and the agent on channel 2
    (delayed, silence before), mixed by ffmpeg into one 8 kHz two-channel WAV as Twilio records."""
    with tempfile.TemporaryDirectory() as folder:
        customer, agent_side, out = (
            Path(folder, "c.wav"),
            Path(folder, "a.wav"),
            Path(folder, "o.wav"),
        )
        customer.write_bytes(telephone_line(speech(CUSTOMER_CLIP)))
        agent_side.write_bytes(telephone_line(speech(AGENT_CLIP)))
        delay = int(AGENT_FROM * 1000)
        graph = (
            "[0:a]apad=whole_dur=18[a];"
            f"[1:a]adelay={delay}:all=1,apad=whole_dur=18[b];"
            "[a][b]join=inputs=2:channel_layout=stereo[out]"
        )
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", str(customer), "-i", str(agent_side),
             "-filter_complex", graph, "-map", "[out]", "-ar", "8000", "-ac", "2",
             "-acodec", "pcm_s16le", str(out)],
            check=True, timeout=60,
        )  # fmt: skip
        return out.read_bytes()


@functools.cache
def message_cer(name: str, model_path: str) -> float:
    """The clip transcribed as a message is: the bound a conversation's side must keep."""
    model = vosk.Model(model_path)
    heard = transcribe(decode(telephone_line(speech(name))), model, language="ko")
    return character_error_rate(clip(name).reference, heard.text)


@pytest.fixture
def app_settings(app_settings: dict[str, Any], host: MediaHost) -> dict[str, Any]:
    return use_media_host(app_settings, host)


def record_conversation(app: Flask, host: MediaHost, language: str = "ko") -> int:
    """The row the app leaves once Twilio says the recording is complete: a pending job."""
    host.files[REC_SID] = conversation_wav()
    with app.app_context():
        call = Call(sid=CALL_SID, from_number="+8613800000000", to_number="+864008001234",
                    status="completed", language="ko")  # fmt: skip
        db.session.add(call)
        db.session.flush()
        row = ConversationRecording(
            call_id=call.id, call_sid=CALL_SID, from_number=call.from_number, queue="product",
            language=language, recording_sid=REC_SID,
            recording_url=recording_url(host, REC_SID),
            recording_duration=18, status=VoicemailStatus.PENDING, pauses=[[7.0, 8.0]],
        )  # fmt: skip
        db.session.add(row)
        db.session.commit()
        return row.id


def stored(app: Flask, ident: int) -> ConversationRecording:
    with app.app_context():
        row = db.session.get(ConversationRecording, ident)
        assert row is not None
        db.session.expunge(row)
        return row


def make_due(app: Flask) -> None:
    with app.app_context():
        db.session.execute(update(ConversationRecording).values(next_attempt_at=utcnow()))
        db.session.commit()


def said_by(row: ConversationRecording, speaker: str) -> str:
    return " ".join(t["text"] for t in row.turns or [] if t["speaker"] == speaker)


@pytest.mark.slow
@pytest.mark.speech
def test_each_side_is_transcribed_as_its_own_turns_and_found_by_search(
    app: Flask, client: FlaskClient, host: MediaHost
) -> None:
    ident = record_conversation(app, host)
    assert work(app, burst=True) == 1
    row = stored(app, ident)
    assert row.status == VoicemailStatus.TRANSCRIBED, row.status_reason
    kept = Path(app.config["HOTLINE_DATA_DIR"]) / "conversations" / (row.audio_path or "")
    assert kept.read_bytes() == conversation_wav()  # the original, as received
    turns = row.turns or []
    assert [t["speaker"] for t in turns] == ["customer", "agent"], turns
    customer, agent_turn = turns
    assert customer["end"] < AGENT_FROM <= agent_turn["start"] + 0.3
    assert all(t["start"] <= w["start"] <= w["end"] <= t["end"] for t in turns for w in t["words"])

    model = app.config["VOSK_MODEL_ZH"]
    for speaker, name in (("customer", CUSTOMER_CLIP), ("agent", AGENT_CLIP)):
        side = character_error_rate(clip(name).reference, said_by(row, speaker))
        assert side <= min(message_cer(name, model) + CER_MARGIN, CER_AT_MOST), (speaker, side)
        # Each side holds its own clip's words, never the other side's.
        other = AGENT_CLIP if name == CUSTOMER_CLIP else CUSTOMER_CLIP
        assert character_error_rate(clip(other).reference, said_by(row, speaker)) > 0.7
    assert row.transcript == f"{customer['text']}\n{agent_turn['text']}"
    assert row.model and row.duration and 17 < row.duration < 19
    assert row.transcription_seconds and row.leased_by is None
    # Checked for quality as soon as it was transcribed: the agent greeted in Korean, not with
    # the shipped rules' 您好 / hello.
    with app.app_context():
        check = db.session.scalars(
            select(QualityCheck).where(QualityCheck.recording_id == ident)
        ).one()
        assert check.kind == "conversation" and "no_greeting" in check.tags and check.score < 100

    # A word only the agent said finds the conversation, and links to the agent's turn.
    word = next(
        w["word"] for w in agent_turn["words"]
        if len(w["word"]) >= 2 and not index_terms(w["word"]) & index_terms(customer["text"])
    )  # fmt: skip
    agent(app)
    sign_in(client)
    page = client.get("/inbox", query_string={"q": word}).get_data(as_text=True)
    assert f'href="/calls/{CALL_SID}#turn-{ident}-1"' in page
    token = make_token(app)
    found = client.get("/api/v1/search", query_string={"q": word}, headers=auth(token)).json
    assert [(h["kind"], h["id"], h["turn"]) for h in found["data"]] == [("conversation", ident, 1)]
    assert found["data"][0]["call_url"] == f"/calls/{CALL_SID}#turn-{ident}-1"
    nothing = client.get("/api/v1/search", query_string={"q": "zzzq"}, headers=auth(token)).json
    assert nothing["data"] == []

    # The call page shows the turns with their times, speakers and the paused stretch.
    page = client.get(f"/calls/{CALL_SID}").get_data(as_text=True)
    assert f'id="turn-{ident}-0"' in page and f'id="turn-{ident}-1"' in page
    assert "Customer" in page and "Agent" in page and "Recording paused" in page
    assert "0:07–0:08" in page  # the pause, in order among the turns
    assert customer["text"] in page and agent_turn["text"] in page
    audio = client.get(f"/calls/{CALL_SID}/conversations/{ident}/audio",
                       headers={"Range": "bytes=0-99"})  # fmt: skip
    assert audio.status_code == 206 and audio.data == conversation_wav()[:100]
    audio.close()
    zh = client.get(f"/calls/{CALL_SID}", headers={"Accept-Language": "zh-CN"}).get_data(
        as_text=True
    )
    assert "客户" in zh and "客服" in zh and "录音已暂停" in zh

    # Without signing in, neither the audio nor the page is served.
    fresh = app.test_client()
    refused = fresh.get(f"/calls/{CALL_SID}/conversations/{ident}/audio")
    assert refused.status_code in (302, 401) and refused.data != conversation_wav()
    assert fresh.get(f"/calls/{CALL_SID}").status_code in (302, 401)


@pytest.mark.slow
def test_a_failed_fetch_is_retried_with_backoff_then_kept_once(app: Flask, host: MediaHost) -> None:
    ident = record_conversation(app, host)
    host.bad_bytes[REC_SID] = 1  # an error page instead of the audio, once
    job = make_job(app)
    with app.app_context():
        claimed = claim_any(db.session, job.name, job.settings)
        assert isinstance(claimed, ConversationRecording)
        assert job.process(db.session, claimed) == VoicemailStatus.PENDING
        assert claim_any(db.session, job.name, job.settings) is None  # backed off: not yet due
    row = stored(app, ident)
    assert (row.status, row.attempts, row.audio_path) == (VoicemailStatus.PENDING, 1, None)
    assert row.status_reason.startswith("attempt 1 failed: the downloaded file is not audio")
    assert row.next_attempt_at > utcnow()
    make_due(app)
    assert work(app, burst=True) == 1
    row = stored(app, ident)
    assert (row.status, row.attempts) == (VoicemailStatus.TRANSCRIBED, 2), row.status_reason
    assert row.audio_path is not None
    assert len(host.hits) == 2  # the bad answer, then the audio: fetched again once, kept once


@pytest.fixture
def database_store(app_settings: dict[str, Any]) -> dict[str, Any]:
    app_settings["HOTLINE_AUDIO_STORE"] = "database"
    return app_settings


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.usefixtures("database_store")
def test_two_workers_transcribe_a_conversation_once_with_audio_in_the_database(
    app: Flask, app_settings: dict[str, Any], host: MediaHost
) -> None:
    import threading

    ident = record_conversation(app, host)
    done: list[int] = []
    workers = [
        threading.Thread(target=lambda: done.append(work(app, burst=True))) for _ in range(2)
    ]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=300)
    assert sorted(done) == [0, 1]  # one worker did it, the other found nothing to do
    row = stored(app, ident)
    assert row.status == VoicemailStatus.TRANSCRIBED and row.attempts == 1
    assert (row.audio_path or "").startswith("db:")
    assert not (Path(app.config["HOTLINE_DATA_DIR"]) / "conversations").exists()
    with app.app_context():
        [kept] = db.session.scalars(select(ConversationAudio)).all()
        assert kept.recording_id == ident and kept.size == len(conversation_wav())
    assert len([hit for hit in host.hits if hit[1] == 200]) == 1


def test_silent_conversation_fails_with_a_reason_and_waiting_ones_say_so(
    app: Flask, client: FlaskClient, host: MediaHost
) -> None:
    ident = record_conversation(app, host)
    agent(app)
    sign_in(client)
    assert "Waiting for transcription." in client.get(f"/calls/{CALL_SID}").get_data(as_text=True)
    silence = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=stereo",
         "-t", "3", "-acodec", "pcm_s16le", "-f", "wav", "pipe:1"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    host.files[REC_SID] = silence
    work(app, burst=True)
    row = stored(app, ident)
    assert row.status == VoicemailStatus.FAILED
    assert row.status_reason.startswith("the recording is silent")
    page = client.get(f"/calls/{CALL_SID}").get_data(as_text=True)
    assert "Transcription failed: the recording is silent" in page
    assert f"/calls/{CALL_SID}/conversations/{ident}/audio" in page  # still playable


def test_messages_and_conversations_take_turns_so_neither_waits_for_the_other(
    app: Flask, host: MediaHost, caplog: pytest.LogCaptureFixture
) -> None:
    # A language without a model: each job is fetched, kept and left untranscribed at once.
    host.files["RE" + "m" * 32] = tone_wav()
    host.files["RE" + "s" * 32] = export(tone(channels=2), "wav")
    earlier = utcnow() - timedelta(minutes=5)
    with app.app_context():
        for n in range(3):  # the messages are all older: first in line by age alone
            db.session.add(
                Voicemail(call_sid=f"CA{n:032d}", case_number=f"2000000{n}", language="xx",
                          recording_sid=f"RE{n:032d}", next_attempt_at=earlier,
                          recording_url=recording_url(host, "RE" + "m" * 32))
            )  # fmt: skip
            db.session.add(
                ConversationRecording(call_sid=f"CA{n:032d}", language="xx",
                                      recording_sid=f"RS{n:032d}", status=VoicemailStatus.PENDING,
                                      recording_url=recording_url(host, "RE" + "s" * 32))
            )  # fmt: skip
        db.session.commit()
    caplog.set_level(logging.INFO, logger="voicemail.worker")
    assert work(app, burst=True) == 6
    ended = [
        r.getMessage().split()[0]
        for r in caplog.records
        if r.getMessage().endswith(": untranscribed")
    ]
    assert ended == ["voicemail", "conversation"] * 3
    with app.app_context():
        kept = db.session.scalars(select(ConversationRecording.audio_path)).all()
        assert all(kept) and len(set(kept)) == 3


@pytest.mark.parametrize("few", [1000, 1])  # found by id, or (many matches) newest first by term
def test_search_finds_conversations_newest_first_with_the_turn_holding_the_words(
    app: Flask, monkeypatch: pytest.MonkeyPatch, few: int
) -> None:
    monkeypatch.setattr("voicemail.search.FEW_MATCHES", few)
    said = [("customer", "我的 订单 没到"), ("agent", "运费 由 我们 承担")]
    with app.app_context():
        for n in range(3):
            row = ConversationRecording(
                call_sid=f"CA{n:032d}", status=VoicemailStatus.TRANSCRIBED,
                started_at=utcnow() - timedelta(hours=3 - n),
                turns=[{"speaker": who, "start": i, "end": i + 1, "text": text, "words": []}
                       for i, (who, text) in enumerate(said)],
            )  # fmt: skip
            db.session.add(row)
            db.session.flush()
            index_conversation(db.session, row.id, "\n".join(text for _, text in said))
        db.session.commit()
        found = conversations_holding(db.session, "运费 承担", 2)
        assert [(row.call_sid, turn) for row, turn in found] == [
            (f"CA{2:032d}", 1), (f"CA{1:032d}", 1),
        ]  # fmt: skip
        assert [turn for _, turn in conversations_holding(db.session, "订单 运费", 5)] == [None] * 3
        assert conversations_holding(db.session, "退货", 5) == []


@pytest.fixture
def deleting(app_settings: dict[str, Any]) -> dict[str, Any]:
    app_settings["HOTLINE_DELETE_FROM_TWILIO"] = True
    return app_settings


@pytest.mark.usefixtures("deleting")
def test_a_late_worker_never_writes_over_the_one_that_took_the_conversation_over(
    app: Flask, host: MediaHost
) -> None:
    ident = record_conversation(app, host, language="xx")  # no model: quick to process
    slow, other = make_job(app), make_job(app)
    with app.app_context():
        claimed = claim_any(db.session, slow.name, slow.settings)
        assert isinstance(claimed, ConversationRecording)
        # The slow worker's lease runs out (as if it hung): another takes the job over.
        db.session.execute(
            update(ConversationRecording).values(lease_until=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
        taken = claim_any(db.session, other.name, other.settings)
        assert taken is not None and taken.id == ident and taken.attempts == 2
        db.session.expunge_all()
        with pytest.raises(LeaseLost):
            slow.process(db.session, claimed)  # fetches, but may not write what it fetched
        db.session.rollback()
        assert other.process(db.session, taken) == VoicemailStatus.UNTRANSCRIBED
    row = stored(app, ident)
    assert (row.status, row.leased_by, row.attempts) == (VoicemailStatus.UNTRANSCRIBED, None, 2)
    assert "no speech model for language 'xx'" in row.status_reason
    assert row.audio_path == f"00000/{ident}.wav" and row.duration and 17 < row.duration < 19
    # Deleted at Twilio once, by the worker that kept it.
    assert host.deleted == [f"/2010-04-01/Accounts/{host.account_sid}/Recordings/{REC_SID}.json"]
