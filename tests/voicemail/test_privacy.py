"""Keeping callers' data only as long as allowed, and erasing one caller (issue #16, point 5).

Rows are made as the app makes them, dated back to age them; audio is real files in the data
folder and real rows of database audio; the sweep runs inside the real worker loop.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, or_, select

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import (
    Agent,
    AgentOffer,
    AuditEvent,
    Call,
    CallEvent,
    EntryState,
    QueueEntry,
    Role,
    Wrapup,
)
from ivr.queues.agents import create_agent
from ivr.settings import ConfigError, check_settings, settings_from_env
from tests.factories import auth, csrf, make_token, sign_in, tone_wav
from voicemail.models import (
    ConversationAudio,
    ConversationRecording,
    ConversationTerm,
    Note,
    QualityCheck,
    RetentionSweep,
    Voicemail,
    VoicemailAudio,
    VoicemailStatus,
    VoicemailTerm,
)
from voicemail.search import index_terms
from voicemail.storage import CONVERSATIONS, FileStore
from voicemail.worker import work

ERASED = "+8613800138000"
OTHER = "+8613900139000"
SPELLINGS = ("+86 138-0013-8000", "+86 (138) 0013 8000", "008613800138000")


@dataclass
class Caller:
    """What the app keeps about one number: ids and the audio files on disk."""

    call_id: int
    entry_id: int
    message_id: int
    recording_id: int
    callback_id: int
    files: list[Path]


def _terms(text: str, **key: int) -> list[Any]:
    table = VoicemailTerm if "voicemail_id" in key else ConversationTerm
    return [table(term=term, **key) for term in index_terms(text)]


def add_caller(app: Flask, number: str, *, days_ago: float = 0, n: int = 1) -> Caller:
    """A caller who called, waited, talked (recorded), filed a wrap-up, left a message and was
    called back (recorded), all ``days_ago``."""
    at = utcnow() - timedelta(days=days_ago)
    data = Path(app.config["HOTLINE_DATA_DIR"])
    store = FileStore(data)
    with app.app_context():
        agent = db.session.scalar(select(Agent).where(Agent.name == "wang"))
        if agent is None:
            agent = create_agent(db.session, "wang", password="correct horse")
        call = Call(
            sid=f"CA{n:032d}", from_number=number, to_number="+862100000000", started_at=at,
            ended_at=at + timedelta(minutes=3), status="completed", rating=4,
        )  # fmt: skip
        db.session.add(call)
        db.session.flush()
        db.session.add(CallEvent(call_id=call.id, step=1, kind="node", node="main", at=at))
        entry = QueueEntry(
            call_id=call.id, call_sid=call.sid, queue="after_sales", topic="after_sales",
            language="zh", node="q", from_number=number, state=EntryState.DONE, entered_at=at,
            agent_id=agent.id,
        )  # fmt: skip
        db.session.add(entry)
        db.session.flush()
        db.session.add(AgentOffer(agent_id=agent.id, entry_id=entry.id, queue="after_sales",
                                  offered_at=at))  # fmt: skip
        db.session.add(Wrapup(call_id=call.id, agent_id=agent.id, note="客户要求退货", saved_at=at))
        message = Voicemail(
            call_id=call.id, call_sid=call.sid, case_number=f"2000000{n}", from_number=number,
            recording_sid=f"RE{n:032d}", recording_url="https://api.twilio.com/x",
            created_at=at, status=VoicemailStatus.TRANSCRIBED, transcript="退货 运费",
            raw_transcript="退 货 运 费", words=[{"word": "退货", "start": 0, "end": 1, "conf": 1}],
        )  # fmt: skip
        db.session.add(message)
        db.session.flush()
        message.audio_path = store.save(message.id, "wav", tone_wav(0.5))
        db.session.add_all(_terms("退货 运费", voicemail_id=message.id))
        db.session.add(Note(voicemail_id=message.id, agent_id=agent.id, body="已回电"))
        recordings = []
        for direction in ("inbound", "callback"):
            recording = ConversationRecording(
                call_id=call.id, call_sid=call.sid, entry_id=entry.id, agent_id=agent.id,
                direction=direction, from_number=number, started_at=at,
                recording_sid=f"RE{n:031d}{len(recordings)}", status=VoicemailStatus.TRANSCRIBED,
                transcript="您好 我要投诉", raw_transcript="您好 我 要 投诉",
                turns=[{"speaker": "customer", "start": 0, "end": 1, "text": "我要投诉"}],
            )  # fmt: skip
            db.session.add(recording)
            db.session.flush()
            db.session.add_all(_terms("您好 我要投诉", recording_id=recording.id))
            recordings.append(recording)
        # One conversation's audio in the database, the other's in a file.
        audio = tone_wav(0.5)
        db.session.add(ConversationAudio(recording_id=recordings[0].id, codec="zlib",
                                         size=len(audio), data=zlib.compress(audio)))  # fmt: skip
        recordings[0].audio_path = f"db:{recordings[0].id}.wav"
        conversations = FileStore(data, CONVERSATIONS)  # where the worker keeps them
        relative = conversations.save(recordings[1].id, "wav", audio)
        recordings[1].audio_path = relative
        # What the quality checks kept: the words they matched, about this caller.
        db.session.add_all(
            QualityCheck(
                kind=kind,
                at=at,
                score=70,
                tags=["complaint"],
                call_sid=call.sid,
                matches=[{"kind": "flag", "tag": "complaint", "text": "我要投诉"}],
                **{column: ident},
            )
            for kind, column, ident in [("message", "voicemail_id", message.id)]
            + [("conversation", "recording_id", r.id) for r in recordings]
        )
        db.session.commit()
        return Caller(
            call_id=call.id, entry_id=entry.id, message_id=message.id,
            recording_id=recordings[0].id, callback_id=recordings[1].id,
            files=[store.root / message.audio_path, conversations.root / relative],
        )  # fmt: skip


def count(app: Flask, table: Any, *where: Any) -> int:
    with app.app_context():
        found = db.session.scalar(select(func.count()).select_from(table).where(*where)) or 0
        db.session.commit()
        return found


def everything_of(app: Flask, caller: Caller) -> dict[str, int]:
    """Rows of each kind still there about ``caller`` (files counted too)."""
    return {
        "calls": count(app, Call, Call.id == caller.call_id),
        "call_events": count(app, CallEvent, CallEvent.call_id == caller.call_id),
        "queue_entries": count(app, QueueEntry, QueueEntry.id == caller.entry_id),
        "agent_offers": count(app, AgentOffer, AgentOffer.entry_id == caller.entry_id),
        "wrapups": count(app, Wrapup, Wrapup.call_id == caller.call_id),
        "messages": count(app, Voicemail, Voicemail.id == caller.message_id),
        "notes": count(app, Note, Note.voicemail_id == caller.message_id),
        "message_terms": count(app, VoicemailTerm, VoicemailTerm.voicemail_id == caller.message_id),
        "recordings": count(
            app,
            ConversationRecording,
            ConversationRecording.id.in_([caller.recording_id, caller.callback_id]),
        ),
        "recording_terms": count(
            app,
            ConversationTerm,
            ConversationTerm.recording_id.in_([caller.recording_id, caller.callback_id]),
        ),
        "database_audio": count(
            app, ConversationAudio, ConversationAudio.recording_id == caller.recording_id
        ),
        "quality_checks": count(
            app,
            QualityCheck,
            or_(
                QualityCheck.voicemail_id == caller.message_id,
                QualityCheck.recording_id.in_([caller.recording_id, caller.callback_id]),
            ),
        ),
        "files": sum(path.exists() for path in caller.files),
    }


NOTHING = dict.fromkeys(
    ["calls", "call_events", "queue_entries", "agent_offers", "wrapups", "messages", "notes",
     "message_terms", "recordings", "recording_terms", "database_audio", "quality_checks",
     "files"], 0,
)  # fmt: skip
ALL = {
    **dict.fromkeys(NOTHING, 1),
    "recordings": 2,
    "quality_checks": 3,
    "files": 2,
    "message_terms": len(index_terms("退货 运费")),
    "recording_terms": 2 * len(index_terms("您好 我要投诉")),
}


# ---- settings --------------------------------------------------------------------------------


def test_retention_settings_are_read_and_checked() -> None:
    defaults = settings_from_env({"HOTLINE_ENV": "development"})
    assert (defaults["HOTLINE_KEEP_AUDIO_DAYS"], defaults["HOTLINE_KEEP_TRANSCRIPTS_DAYS"],
            defaults["HOTLINE_KEEP_CALLS_DAYS"]) == (180, 365, 730)  # fmt: skip
    check_settings(defaults)
    forever = settings_from_env({"HOTLINE_ENV": "development", "HOTLINE_KEEP_AUDIO_DAYS": "0",
                                 "HOTLINE_KEEP_TRANSCRIPTS_DAYS": "", "HOTLINE_KEEP_CALLS_DAYS": "0"})  # fmt: skip
    check_settings(forever)
    assert forever["HOTLINE_KEEP_AUDIO_DAYS"] == 0
    with pytest.raises(ConfigError, match="HOTLINE_KEEP_AUDIO_DAYS must be a whole number"):
        settings_from_env({"HOTLINE_KEEP_AUDIO_DAYS": "half a year"})
    with pytest.raises(ConfigError, match="HOTLINE_KEEP_AUDIO_DAYS must be a whole number"):
        settings_from_env({"HOTLINE_KEEP_AUDIO_DAYS": "-5"})
    # Call logs would go before their recordings.
    short = {**defaults, "HOTLINE_KEEP_CALLS_DAYS": 90}
    with pytest.raises(ConfigError, match="HOTLINE_KEEP_CALLS_DAYS must not be shorter"):
        check_settings(short)
    # Shorter than what call-backs must be kept (China's 2020 rules on outbound calls).
    tiny = {**defaults, "HOTLINE_KEEP_AUDIO_DAYS": 7, "HOTLINE_KEEP_TRANSCRIPTS_DAYS": 7,
            "HOTLINE_KEEP_CALLS_DAYS": 10}  # fmt: skip
    with pytest.raises(ConfigError, match="at least 30 days"):
        check_settings(tiny)


# ---- the sweep through the worker ------------------------------------------------------------


@pytest.fixture
def short_keep(app_settings: dict[str, Any]) -> dict[str, Any]:
    app_settings.update(HOTLINE_KEEP_AUDIO_DAYS=10, HOTLINE_KEEP_TRANSCRIPTS_DAYS=20,
                        HOTLINE_KEEP_CALLS_DAYS=40)  # fmt: skip
    return app_settings


def test_the_worker_sweeps_what_is_kept_too_long(short_keep: dict, app: Flask) -> None:
    fresh = add_caller(app, "+8613700000001", days_ago=5, n=1)
    no_audio = add_caller(app, "+8613700000002", days_ago=15, n=2)
    no_text = add_caller(app, "+8613700000003", days_ago=25, n=3)
    callback_kept = add_caller(app, "+8613700000004", days_ago=35, n=4)  # calls kept 40 days
    gone = add_caller(app, "+8613700000005", days_ago=45, n=5)

    work(app, burst=True)  # the real worker loop: no message is due, so it sweeps and stops

    assert everything_of(app, fresh) == ALL
    assert everything_of(app, gone) == NOTHING
    # Audio older than 10 days is gone, files and database rows; the rest stays.
    left = everything_of(app, no_audio)
    assert not no_audio.files[0].exists() and left["database_audio"] == 0
    assert left["messages"] == 1 and left["message_terms"] == ALL["message_terms"]
    with app.app_context():
        message = db.session.get(Voicemail, no_audio.message_id)
        assert message.audio_path is None and message.transcript == "退货 运费"
        # The call-back recorded 15 days ago keeps its audio: 30 days at least.
        callback = db.session.get(ConversationRecording, no_audio.callback_id)
        assert callback.audio_path is not None
        db.session.commit()
    assert no_audio.files[1].exists()
    # Transcripts older than 20 days are blanked, with their search terms; the case stays.
    left = everything_of(app, no_text)
    assert left["messages"] == 1 and left["message_terms"] == 0 and left["notes"] == 1
    with app.app_context():
        message = db.session.get(Voicemail, no_text.message_id)
        assert (message.transcript, message.raw_transcript, message.words) == (None, None, None)
        inbound = db.session.get(ConversationRecording, no_text.recording_id)
        assert inbound.turns is None and inbound.transcript is None
        callback = db.session.get(ConversationRecording, no_text.callback_id)
        assert callback.turns and callback.transcript  # a call-back's: 30 days at least
        db.session.commit()
    # 35 days: past 30, a call-back's audio and transcript go too; the call log stays (40).
    left = everything_of(app, callback_kept)
    assert left["calls"] == 1 and left["files"] == 0 and left["recording_terms"] == 0

    with app.app_context():
        sweep = db.session.get(RetentionSweep, 1)
        assert sweep.finished_at is not None
        assert sweep.removed["calls"] == 1 and sweep.removed["messages"] == 1
        assert sweep.removed["audio"] >= 4
        db.session.commit()


def test_a_sweep_again_finds_nothing_and_the_cli_reports(short_keep: dict, app: Flask) -> None:
    add_caller(app, "+8613700000005", days_ago=45, n=5)
    first = app.test_cli_runner().invoke(args=["privacy", "sweep"])
    assert first.exit_code == 0, first.output
    assert "1 calls" in first.output and "1 messages" in first.output
    again = app.test_cli_runner().invoke(args=["privacy", "sweep"])
    assert again.output.strip() == "removed nothing"


def test_several_workers_take_turns(short_keep: dict, app: Flask) -> None:
    from voicemail.retention import claim_sweep

    now = utcnow()
    with app.app_context():
        assert claim_sweep(db.session, timedelta(minutes=5), now)
        # Another worker a minute later: not its turn.
        assert not claim_sweep(db.session, timedelta(minutes=5), now + timedelta(minutes=1))
        assert claim_sweep(db.session, timedelta(minutes=5), now + timedelta(minutes=6))


def test_callback_recordings_are_kept_30_days_whatever(app_settings: dict, app: Flask) -> None:
    app.config.update(HOTLINE_KEEP_AUDIO_DAYS=1, HOTLINE_KEEP_TRANSCRIPTS_DAYS=1,
                      HOTLINE_KEEP_CALLS_DAYS=0)  # fmt: skip
    kept = add_caller(app, "+8613700000006", days_ago=29, n=6)
    work(app, burst=True)
    with app.app_context():
        callback = db.session.get(ConversationRecording, kept.callback_id)
        inbound = db.session.get(ConversationRecording, kept.recording_id)
        assert callback.audio_path and callback.turns
        assert inbound.audio_path is None and inbound.turns is None
        db.session.commit()
    assert kept.files[1].exists() and not kept.files[0].exists()


def test_the_figures_page_says_what_is_kept(
    short_keep: dict, app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        db.session.commit()
    add_caller(app, "+8613700000005", days_ago=45, n=5)
    sign_in(client, "zhang")
    page = client.get("/figures").get_data(as_text=True)
    assert "What is kept, and how long" in page and "10 days" in page
    assert "The worker has not swept yet." in page
    work(app, burst=True)
    page = client.get("/figures").get_data(as_text=True)
    assert "Last sweep:" in page and "calls 1" in page


# ---- erasure ---------------------------------------------------------------------------------


@pytest.fixture
def two_callers(app: Flask) -> tuple[Caller, Caller]:
    return add_caller(app, ERASED, days_ago=3, n=1), add_caller(app, OTHER, days_ago=3, n=2)


def erase_lines(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        rows = list(
            db.session.scalars(select(AuditEvent).where(AuditEvent.action == "caller_erase"))
        )
        db.session.expunge_all()
        return rows


def assert_erased(app: Flask, erased: Caller, kept: Caller, actor: str) -> None:
    assert everything_of(app, erased) == NOTHING
    assert everything_of(app, kept) == ALL
    assert count(app, VoicemailAudio) == 0
    (line,) = erase_lines(app)
    assert line.actor == actor
    assert line.detail["removed"]["calls"] == 1 and line.detail["removed"]["recordings"] == 2
    assert line.detail["removed"]["notes"] == 1 and line.detail["removed"]["wrapups"] == 1
    written = json.dumps([line.target, line.detail], ensure_ascii=False)
    assert "13800138000" not in written and "0013" not in written
    assert line.target == "+86 138****8000"


def test_erasure_from_the_cli(app: Flask, two_callers: tuple[Caller, Caller]) -> None:
    erased, kept = two_callers
    refused = app.test_cli_runner().invoke(args=["privacy", "erase", SPELLINGS[0]], input="n\n")
    assert refused.exit_code != 0 and "Aborted" in refused.output
    assert "1 calls" in refused.output  # the confirmation says how much
    assert everything_of(app, erased) == ALL
    done = app.test_cli_runner().invoke(
        args=["privacy", "erase", SPELLINGS[2], "--yes", "--by", "dpo"]
    )
    assert done.exit_code == 0, done.output
    assert "13800138000" not in done.output
    assert_erased(app, erased, kept, "cli:dpo")
    again = app.test_cli_runner().invoke(args=["privacy", "erase", ERASED, "--yes"])
    assert again.exit_code != 0 and "nothing is kept about +86 138****8000" in again.output
    bad = app.test_cli_runner().invoke(args=["privacy", "erase", "call me maybe", "--yes"])
    assert bad.exit_code == 2 and "phone number" in bad.output


def test_erasure_through_the_api(
    app: Flask, client: FlaskClient, two_callers: tuple[Caller, Caller]
) -> None:
    erased, kept = two_callers
    reader = make_token(app, "crm")
    refused = client.post("/api/v1/callers/erase", json={"number": ERASED}, headers=auth(reader))
    assert refused.status_code == 403
    token = make_token(app, "dpo-tool", scopes="erase")
    url = "/api/v1/callers/erase"
    dry = client.post(url, json={"number": SPELLINGS[1], "dry_run": True}, headers=auth(token))
    assert dry.status_code == 200 and dry.json["erased"] is False
    assert dry.json["counts"]["recordings"] == 2 and dry.json["number"] == "+86 138****8000"
    assert everything_of(app, erased) == ALL
    done = client.post(url, json={"number": SPELLINGS[0]}, headers=auth(token))
    assert done.status_code == 200 and done.json["erased"] is True
    assert_erased(app, erased, kept, erase_lines(app)[0].actor)
    assert erase_lines(app)[0].actor.startswith("token:dpo-tool#")
    assert client.post(url, json={"number": ERASED}, headers=auth(token)).status_code == 404
    for body in (
        {"number": "abc"},
        {},
        {"number": 13800138000},
        {"number": ERASED, "dry_run": "y"},
    ):
        reply = client.post(url, json=body, headers=auth(token))
        assert reply.status_code == 400, body
        assert reply.json["error"]["message"]


@pytest.fixture
def supervisor(app: Flask) -> str:
    with app.app_context():
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        create_agent(db.session, "li", password="correct horse")
        db.session.commit()
    return "zhang"


def test_erasure_from_the_supervisors_page(
    app: Flask, client: FlaskClient, supervisor: str, two_callers: tuple[Caller, Caller]
) -> None:
    erased, kept = two_callers
    sign_in(client, "li")
    assert client.get("/privacy/erase").status_code == 403
    assert client.post("/privacy/erase/confirm", data={"number": ERASED}).status_code in (400, 403)
    client.get("/logout")
    sign_in(client, supervisor)
    token = csrf(client, "/privacy/erase")
    # Without the form's token: refused.
    assert client.post("/privacy/erase/confirm", data={"number": ERASED}).status_code == 400
    preview = client.post("/privacy/erase", data={"number": SPELLINGS[0], "csrf_token": token})
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "Erase everything about +86 138****8000?" in page
    assert 'data-kind="recordings">recorded conversations: <strong>2</strong>' in page
    assert everything_of(app, erased) == ALL  # nothing erased before the confirmation
    done = client.post("/privacy/erase/confirm", data={"number": SPELLINGS[0], "csrf_token": token},
                       follow_redirects=True)  # fmt: skip
    assert "Erased everything about +86 138****8000" in done.get_data(as_text=True)
    assert_erased(app, erased, kept, "agent:zhang")
    missing = client.post("/privacy/erase", data={"number": ERASED, "csrf_token": token})
    assert missing.status_code == 404 and "Nothing is kept" in missing.get_data(as_text=True)
    bad = client.post("/privacy/erase", data={"number": "DROP TABLE", "csrf_token": token})
    assert bad.status_code == 400 and "not a phone number" in bad.get_data(as_text=True)
