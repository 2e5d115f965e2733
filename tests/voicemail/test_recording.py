"""Taking a message: the Record TwiML, Twilio's callbacks as it sends them, case numbers."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from ivr.database import db
from ivr.models import Call, CallEvent, Outcome
from tests.conftest import PUBLIC_BASE_URL, Twilio, sign
from tests.factories import (
    MEDIA,
    REC,
    SID,
    call_params,
    messages,
    path_of,
    recording,
    to_message_node,
)
from tests.twiml import Doc
from voicemail.cases import is_case_number, luhn_digit, new_case_number
from voicemail.models import CaseStatus, Voicemail, VoicemailStatus


def test_message_node_records_with_beep_and_callbacks(app: Flask, twilio: Twilio) -> None:
    doc = to_message_node(twilio, "2")
    assert doc.verbs()[:2] == ["Say", "Record"]
    assert doc.said()[0] == (
        "en-US",
        "Please leave your message after the tone. Press any key or hang up when you are done.",
    )
    record = doc.root.find("Record")
    assert record is not None
    assert record.get("maxLength") == "180"
    assert record.get("playBeep") == "true"
    assert record.get("trim") == "trim-silence"
    assert record.get("finishOnKey") == "1234567890*#"
    assert record.get("action", "").startswith(PUBLIC_BASE_URL + "/voice/voicemail/recorded")
    assert record.get("recordingStatusCallback", "").startswith(
        PUBLIC_BASE_URL + "/voice/voicemail/status"
    )
    # An empty recording makes Twilio fall through: the caller is told, not left in silence.
    assert doc.verbs()[2:] == ["Say", "Say", "Hangup"]
    assert doc.said()[1] == ("en-US", "We did not hear a message.")


def test_the_recording_callback_asks_twilio_to_retry_and_is_signed_either_way(
    app: Flask, twilio: Twilio
) -> None:
    # A 503 (database down) is worth a retry only if Twilio makes one: the URL asks for it.
    doc = to_message_node(twilio, "2")
    callback = doc.root.find("Record").get("recordingStatusCallback", "")  # type: ignore[union-attr]
    url, _, overrides = callback.partition("#")
    assert overrides == "rc=3&rp=all"
    params = recording(RecordingStatus="completed")
    client = app.test_client()
    # The fragment never reaches us; a signature over the URL with it or without it is Twilio's.
    for signed, status in ((url, 204), (callback, 204), (url + "#rc=5&rp=all", 403)):
        reply = client.post(
            path_of(url), data=params, headers={"X-Twilio-Signature": sign(signed, params)}
        )
        assert reply.status_code == status, signed
    assert len(messages(app)) == 1


def test_recorded_message_is_stored_once_and_the_case_number_read_back(
    app: Flask, twilio: Twilio
) -> None:
    doc = to_message_node(twilio, "1")
    action = path_of(doc.root.find("Record").get("action", ""))  # type: ignore[union-attr]
    status_url = path_of(doc.root.find("Record").get("recordingStatusCallback", ""))  # type: ignore[union-attr]
    reply = twilio.post(action, recording(Digits="#"))
    assert reply.status_code == 200
    said = Doc.parse(reply.data).said()
    [message] = messages(app)
    assert message.status == VoicemailStatus.PENDING
    assert message.case_status == CaseStatus.RECEIVED
    assert (message.category, message.language, message.from_number) == (
        "general",
        "zh",
        "+8613800138000",
    )
    assert (message.recording_sid, message.recording_url, message.recording_duration) == (
        REC,
        MEDIA,
        7,
    )
    assert is_case_number(message.case_number)
    spelled = " ".join(message.case_number)
    assert said[0] == (
        "cmn-CN",
        f"您的留言已收到。您的工单号是 {spelled}。再说一遍，工单号 {spelled}。我们会在 15 分钟内回复您。",
    )
    assert Doc.parse(reply.data).verbs()[-1] == "Hangup"
    # Twilio's retries and the status callback change nothing.
    twilio.post(action, recording(Digits="#"))
    for _ in range(2):
        assert twilio.post(status_url, recording(RecordingStatus="completed")).status_code == 204
    assert [m.id for m in messages(app)] == [message.id]
    with app.app_context():
        call = db.session.scalars(select(Call).where(Call.sid == SID)).one()
        assert call.outcome == Outcome.VOICEMAIL
        events = db.session.scalars(
            select(CallEvent).where(CallEvent.kind == "voicemail_recorded")
        ).all()
        assert [e.detail["case_number"] for e in events] == [message.case_number]


def test_status_callback_first_then_action_keeps_one_message(app: Flask, twilio: Twilio) -> None:
    doc = to_message_node(twilio, "2")
    record = doc.root.find("Record")
    assert record is not None
    twilio.post(
        path_of(record.get("recordingStatusCallback", "")), recording(RecordingStatus="completed")
    )
    [first] = messages(app)
    reply = twilio.post(path_of(record.get("action", "")), recording(Digits="#"))
    assert " ".join(first.case_number) in Doc.parse(reply.data).said()[0][1]
    assert len(messages(app)) == 1


def test_hangup_during_the_message_is_kept(app: Flask, twilio: Twilio) -> None:
    doc = to_message_node(twilio, "2")
    action = path_of(doc.root.find("Record").get("action", ""))  # type: ignore[union-attr]
    reply = twilio.post(action, recording(Digits="hangup"))
    assert reply.status_code == 200
    assert Doc.parse(reply.data).verbs() == []
    assert len(messages(app)) == 1


def test_absent_recording_stores_nothing(app: Flask, twilio: Twilio) -> None:
    doc = to_message_node(twilio, "2")
    status_url = path_of(doc.root.find("Record").get("recordingStatusCallback", ""))  # type: ignore[union-attr]
    params = recording(RecordingStatus="absent", RecordingDuration="0")
    assert twilio.post(status_url, params).status_code == 204
    assert messages(app) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"RecordingSid": "RE123"}, "RecordingSid is malformed"),
        ({"RecordingUrl": "file:///etc/passwd"}, "RecordingUrl is malformed"),
        ({"RecordingDuration": "long"}, "RecordingDuration must be a whole number from 0 to 86400"),
        ({"Digits": "<script>"}, "Digits is malformed"),
    ],
)
def test_malformed_recording_callbacks_are_refused(
    app: Flask, twilio: Twilio, change: dict, problem: str
) -> None:
    twilio.post("/voice/incoming", call_params())
    reply = twilio.post("/voice/voicemail/recorded?node=message&lang=en&s=3", recording(**change))
    assert reply.status_code == 400
    assert problem in reply.get_data(as_text=True)
    assert messages(app) == []


def test_case_numbers_are_short_unique_and_checked() -> None:
    numbers = {new_case_number() for _ in range(2000)}
    # Random, so an occasional repeat is possible (the unique index and a retry handle it).
    assert len(numbers) > 1990
    assert all(len(n) == 8 and n[0] != "0" and is_case_number(n) for n in numbers)
    number = next(iter(numbers))
    wrong = number[:3] + str((int(number[3]) + 1) % 10) + number[4:]
    assert not is_case_number(wrong)  # one mistyped digit is caught
    assert luhn_digit("7992739871") == "3"


def test_caller_hears_case_status_by_phone(app: Flask, twilio: Twilio) -> None:
    doc = to_message_node(twilio, "2")
    twilio.post(path_of(doc.root.find("Record").get("action", "")), recording(Digits="#"))  # type: ignore[union-attr]
    [message] = messages(app)
    with app.app_context():
        db.session.get(Voicemail, message.id).case_status = CaseStatus.IN_PROGRESS  # type: ignore[union-attr]
        db.session.commit()
    other = call_params(CallSid="CA" + "9" * 32)
    doc = Doc.parse(twilio.post("/voice/incoming", other).data)
    for digits in ("2", "5"):
        doc = Doc.parse(
            twilio.post(path_of(doc.gather().get("action", "")), {**other, "Digits": digits}).data
        )
    reply = Doc.parse(
        twilio.post(
            path_of(doc.gather().get("action", "")), {**other, "Digits": message.case_number + "#"}
        ).data
    )
    assert reply.said()[0] == ("en-US", f"Case {' '.join(message.case_number)}: being handled.")
    again = Doc.parse(
        twilio.post(path_of(reply.gather().get("action", "")), {**other, "Digits": "5"}).data
    )
    unknown = Doc.parse(
        twilio.post(path_of(again.gather().get("action", "")), {**other, "Digits": "12345678"}).data
    )
    assert unknown.said()[0] == ("en-US", "Sorry, we could not find case 1 2 3 4 5 6 7 8.")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Voicemail)) == 1


def test_message_after_a_busy_topic_is_filed_under_that_topic(app: Flask, twilio: Twilio) -> None:
    doc = Doc.parse(twilio.post("/voice/incoming", call_params()).data)
    for digits in ("2", "4"):  # English, after-sales: no agent yet, so on to a message
        doc = Doc.parse(
            twilio.post(path_of(doc.gather().get("action", "")), call_params(Digits=digits)).data
        )
    record = doc.root.find("Record")
    assert record is not None
    twilio.post(path_of(record.get("action", "")), recording(Digits="#"))
    [message] = messages(app)
    assert message.category == "after_sales"
