"""A recording belongs to the call that made it: another call naming it is refused."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from ivr.database import db
from ivr.models import Call, CallEvent
from tests.factories import SID, call_params, path_of
from tests.signed_http import TwilioOverHttp
from tests.twiml import Doc
from voicemail.cases import is_case_number
from voicemail.models import Voicemail

OTHER = "CA" + "2" * 32
REC = "RE" + "b" * 32
MEDIA = f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Recordings/{REC}"


def to_message_node(http: TwilioOverHttp, sid: str) -> str:
    """The caller ``sid`` chooses 中文 and "leave a message"; the Record action's path."""
    doc = Doc.parse(http.post("/voice/incoming", call_params(CallSid=sid)).data)
    for digits in ("1", "9"):
        action = path_of(doc.gather().get("action", ""))
        doc = Doc.parse(http.post(action, call_params(CallSid=sid, Digits=digits)).data)
    record = doc.root.find("Record")
    assert record is not None
    return path_of(record.get("action", ""))


def recording(sid: str, **extra: str) -> dict[str, str]:
    return call_params(CallSid=sid, CallStatus="in-progress", RecordingSid=REC,
                       RecordingUrl=MEDIA, RecordingDuration="7", **extra)  # fmt: skip


def test_another_call_naming_a_recording_hears_nothing_of_it(app: Flask, live_server: str) -> None:
    http = TwilioOverHttp(live_server)
    action_a, action_b = to_message_node(http, SID), to_message_node(http, OTHER)
    reply_a = http.post(action_a, recording(SID, Digits="#"))
    assert reply_a.status_code == 200
    with app.app_context():
        case = db.session.scalars(select(Voicemail.case_number)).one()
    assert is_case_number(case)
    spoken_case = " ".join(case)
    assert spoken_case in reply_a.data.decode()
    # Call B's signed Record action and recording callback name A's recording.
    reply_b = http.post(action_b, recording(OTHER, Digits="#"))
    assert reply_b.status_code == 409, reply_b.data
    assert b"belongs to another call" in reply_b.data
    assert case.encode() not in reply_b.data and spoken_case.encode() not in reply_b.data
    status_b = action_b.replace("/recorded?", "/status?")
    callback = http.post(status_b, recording(OTHER, RecordingStatus="completed"))
    assert callback.status_code == 409
    with app.app_context():
        [message] = db.session.scalars(select(Voicemail)).all()
        assert (message.call_sid, message.case_number) == (SID, case)
        call_b = db.session.scalars(select(Call).where(Call.sid == OTHER)).one()
        assert call_b.outcome is None
        kinds = db.session.scalars(select(CallEvent.kind).where(CallEvent.call_id == call_b.id))
        assert "voicemail_recorded" not in set(kinds)
    # A's own retry is still answered with A's case number.
    again = http.post(action_a, recording(SID, Digits="#"))
    assert again.status_code == 200 and spoken_case in again.data.decode()
