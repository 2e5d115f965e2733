"""Call status over signed webhooks: the first final status wins; Twilio's numbers are checked."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from ivr.database import db
from ivr.models import Call, CallEvent, Outcome, QueueEntry
from tests.factories import SID, add_agent, call_params, path_of, to_queue, use_rest, wait_loop
from tests.signed_http import TwilioOverHttp


@pytest.fixture
def app_settings(app_settings: dict[str, Any], rest: str) -> dict[str, Any]:
    return use_rest(app_settings, rest)


@pytest.fixture
def http(live_server: str) -> TwilioOverHttp:
    return TwilioOverHttp(live_server)


def stored(app: Flask) -> tuple[Any, ...]:
    with app.app_context():
        call = db.session.scalars(select(Call).where(Call.sid == SID)).one()
        return call.status, call.duration, call.outcome, call.ended_at


def test_the_first_final_status_wins(app: Flask, http: TwilioOverHttp) -> None:
    http.post("/voice/incoming", call_params())
    completed = call_params(CallStatus="completed", CallDuration="42")
    assert http.post("/voice/status", completed).status_code == 204
    first = stored(app)
    assert first[:3] == ("completed", 42, Outcome.ABANDONED)
    for late in ("busy", "no-answer", "failed", "canceled", "ringing", "in-progress"):
        reply = http.post("/voice/status", call_params(CallStatus=late, CallDuration="0"))
        assert reply.status_code == 204
    assert stored(app) == first
    with app.app_context():  # the history still shows what Twilio sent
        details = db.session.scalars(select(CallEvent.detail).where(CallEvent.kind == "status"))
        assert {d["status"] for d in details} >= {"completed", "busy", "canceled"}


@pytest.mark.parametrize("value", ["-5", "86401", "999999999", "1e3", "4.5"])
def test_absurd_call_durations_are_refused(app: Flask, http: TwilioOverHttp, value: str) -> None:
    http.post("/voice/incoming", call_params())
    reply = http.post("/voice/status", call_params(CallStatus="completed", CallDuration=value))
    assert reply.status_code == 400
    assert reply.data.decode().strip() == (
        "400 Bad Request: CallDuration must be a whole number from 0 to 86400"
    )
    assert stored(app)[0] != "completed"  # nothing was written
    ok = http.post("/voice/status", call_params(CallStatus="completed", CallDuration="86400"))
    assert ok.status_code == 204 and stored(app)[1] == 86400


def test_queue_numbers_are_range_checked(app: Flask, http: TwilioOverHttp) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    doc = to_queue(http)  # type: ignore[arg-type]
    wait_url, _ = wait_loop(http, doc)  # type: ignore[arg-type]
    action = path_of(doc.root.find("Enqueue").get("action", ""))  # type: ignore[union-attr]
    for url, fields in (
        (wait_url, {"QueueTime": "-1"}),
        (wait_url, {"QueueTime": "100000"}),
        (wait_url, {"QueuePosition": "5001"}),
        (action, {"QueueResult": "hangup", "QueueTime": "9999999"}),
    ):
        reply = http.post(url, call_params(CallStatus="in-progress", **fields))
        assert reply.status_code == 400, (url, fields)
        [name] = [k for k in fields if k != "QueueResult"]
        assert f"{name} must be a whole number from 0 to" in reply.data.decode()
    with app.app_context():
        [entry] = db.session.scalars(select(QueueEntry)).all()
        assert (entry.wait_seconds, entry.left_at) == (None, None)


def test_absurd_recording_duration_is_refused(app: Flask, http: TwilioOverHttp) -> None:
    http.post("/voice/incoming", call_params())
    rec = "RE" + "c" * 32
    form = call_params(CallStatus="in-progress", RecordingSid=rec, RecordingDuration="90000",
                       RecordingUrl=f"https://api.twilio.com/2010-04-01/Recordings/{rec}")  # fmt: skip
    for path in ("/voice/voicemail/recorded?node=message&lang=zh&s=3",
                 "/voice/voicemail/status?node=message&lang=zh"):  # fmt: skip
        reply = http.post(path, {**form, "RecordingStatus": "completed"})
        assert reply.status_code == 400
        assert "RecordingDuration must be a whole number from 0 to 86400" in reply.data.decode()
    with app.app_context():
        assert db.session.scalars(select(Call.outcome)).one() is None
        assert (
            db.session.scalar(select(CallEvent.id).where(CallEvent.kind == "voicemail_recorded"))
            is None
        )
