"""Recording conversations with agents, through signed webhooks and a loopback REST stand-in:
the notice, the recording's start, pause and resume, stop, and Twilio's report."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.callflow.menu import MenuError
from ivr.callflow.menu_file import load_menu
from ivr.database import db
from ivr.models import AuditEvent, Call
from tests.conftest import Twilio
from tests.factories import (
    SID,
    add_agent,
    add_message,
    auth,
    call_params,
    csrf,
    make_token,
    menu_with,
    path_of,
    sign_in,
    to_queue,
    use_rest,
    wait_loop,
)
from tests.loopback import RestCalls, serve
from tests.twiml import Doc
from voicemail.models import ConversationRecording, VoicemailStatus

NOTICE_ZH = "为了提升服务质量，本次通话可能会被录音。"
RECORDING = "RE" + "7" * 32
AGENT_LEG = "CA" + "a" * 32
ROOM = "CF" + "1" * 32


class RestWithRecordings(RestCalls):
    """The REST stand-in, answering a RecordingSid for call recordings (or refusing them)."""

    refuse = False

    def do_POST(self) -> None:
        if "/Recordings" not in self.path:
            return super().do_POST()
        length = int(self.headers.get("Content-Length", "0"))
        from urllib.parse import parse_qs

        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        self.placed.append({"path": self.path, **form})
        if self.refuse:
            return self._json(400, {"code": 21220, "message": "Call is not in-progress"})
        return self._json(201, {"sid": RECORDING, "status": "in-progress"})


@pytest.fixture
def rest() -> Iterator[str]:
    RestCalls.placed = []
    RestCalls.rooms = []
    RestWithRecordings.refuse = False
    with serve(RestWithRecordings) as url:
        yield url


@pytest.fixture
def app_settings(app_settings: dict[str, Any], rest: str) -> dict[str, Any]:
    return use_rest(app_settings, rest)


def recordings_asked() -> list[dict[str, str]]:
    return [p for p in RestCalls.placed if "/Recordings" in p["path"]]


def rows(app: Flask) -> list[ConversationRecording]:
    with app.app_context():
        found = list(db.session.scalars(select(ConversationRecording)))
        db.session.expunge_all()
        return found


def talk(app: Flask, client: FlaskClient, twilio: Twilio) -> tuple[Doc, str, str]:
    """A caller in the product queue, answered by li: (the queue's TwiML, li's Dial action,
    the caller's Dial action), the room reported started."""
    doc = to_queue(twilio)
    wait_loop(twilio, doc)
    client.post("/api/v1/agents/li/take-next", headers=auth(make_token(app, "desk")))
    placed = RestCalls.placed[0]
    leg = {"CallSid": AGENT_LEG, "To": placed["To"], "CallStatus": "in-progress"}
    connect = Doc.parse(twilio.post(path_of(placed["Url"]), leg).data)
    action = path_of(doc.root.find("Enqueue").get("action", ""))  # type: ignore[union-attr]
    twilio.post(action, call_params(QueueResult="redirected", QueueTime="20"))
    joined = Doc.parse(twilio.post(path_of(RestCalls.placed[1]["Url"]), call_params()).data)
    report = {"AccountSid": call_params()["AccountSid"], "ConferenceSid": ROOM,
              "FriendlyName": f"hotline-{SID}", "CallSid": AGENT_LEG,
              "StatusCallbackEvent": "conference-start", "SequenceNumber": "1"}  # fmt: skip
    assert twilio.post("/voice/queue/conference", report).status_code == 204
    assert twilio.post("/voice/queue/conference", report).status_code == 204  # a replay
    agent_action = path_of(connect.root.find("Dial").get("action", ""))  # type: ignore[union-attr]
    caller_action = path_of(joined.root.find("Dial").get("action", ""))  # type: ignore[union-attr]
    return doc, agent_action, caller_action


def report(rec: ConversationRecording, **fields: str) -> dict[str, str]:
    return {"AccountSid": call_params()["AccountSid"], "CallSid": SID, "RecordingSid": RECORDING,
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/{RECORDING}",
            "RecordingStatus": "completed", "RecordingDuration": "42",
            "RecordingChannels": "2", **fields}  # fmt: skip


def test_a_conversation_is_recorded_paused_and_stopped_before_the_rating(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    doc, _, caller_action = talk(app, client, twilio)
    # The notice comes with the queue's prompt, before the caller waits.
    assert doc.said()[-1] == ("cmn-CN", NOTICE_ZH) and doc.verbs()[-1] == "Enqueue"
    [start] = recordings_asked()  # the replayed start made no second recording
    assert start["path"].endswith(f"/Calls/{SID}/Recordings.json")
    assert start["RecordingChannels"] == "dual"
    callback = path_of(start["RecordingStatusCallback"])
    [rec] = rows(app)
    assert (rec.status, rec.direction, rec.queue, rec.language) == (
        VoicemailStatus.RECORDING, "inbound", "product-zh", "zh")  # fmt: skip
    assert (rec.recording_sid, rec.call_sid, rec.from_number) == (RECORDING, SID, "+8613800138000")
    assert rec.agent_id is not None and rec.entry_id is not None
    # li pauses (a card number) and resumes, by API.
    token = make_token(app, "li-desk")
    for action in ("pause_recording", "resume_recording"):
        reply = client.post("/api/v1/agents/li/conversation", json={"action": action},
                            headers=auth(token))  # fmt: skip
        assert reply.status_code == 200, reply.json
    again = client.post("/api/v1/agents/li/conversation", json={"action": "resume_recording"},
                        headers=auth(token))  # fmt: skip
    assert again.status_code == 409 and "not paused" in again.json["error"]["message"]
    paused, resumed = recordings_asked()[1:]
    assert paused["path"].endswith(f"/Calls/{SID}/Recordings/{RECORDING}.json")
    assert (paused["Status"], paused["PauseBehavior"]) == ("paused", "silence")
    assert resumed["Status"] == "in-progress"
    [rec] = rows(app)
    assert len(rec.pauses) == 1 and 0 <= rec.pauses[0][0] <= rec.pauses[0][1]
    with app.app_context():
        call = db.session.scalars(select(Call)).one()
        kinds = [e.kind for e in call.events]
        assert kinds.count("recording_paused") == kinds.count("recording_resumed") == 1
        audits = db.session.scalars(select(AuditEvent.action)).all()
        assert {"recording_paused", "recording_resumed"} <= set(audits)
    # li hangs up: the recording stops before the caller is asked for a rating.
    rating = Doc.parse(twilio.post(caller_action, call_params(DialCallStatus="answered")).data)
    assert rating.gather() is not None
    assert recordings_asked()[-1]["Status"] == "stopped"
    # Twilio's report makes the recording a job, once.
    done = twilio.post(callback, report(rec))
    assert done.status_code == 204
    [rec] = rows(app)
    assert (rec.status, rec.recording_duration, rec.channels) == (VoicemailStatus.PENDING, 42, 2)
    assert rec.recording_url.endswith(RECORDING)
    twilio.post(callback, report(rec, RecordingDuration="7", RecordingStatus="failed"))
    [again_rec] = rows(app)
    assert (again_rec.status, again_rec.recording_duration) == (VoicemailStatus.PENDING, 42)
    assert again_rec.next_attempt_at == rec.next_attempt_at


def test_odd_reports_are_refused_and_a_failed_recording_says_why(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    talk(app, client, twilio)
    callback = path_of(recordings_asked()[0]["RecordingStatusCallback"])
    [rec] = rows(app)
    assert twilio.post(re.sub(r"rec=\d+", "rec=999", callback), report(rec)).status_code == 404
    assert twilio.post(re.sub(r"rec=\d+", "rec=x", callback), report(rec)).status_code == 404
    assert twilio.post(callback, report(rec, RecordingStatus="done")).status_code == 400
    assert twilio.post(callback, report(rec, RecordingSid="RE" + "8" * 32)).status_code == 409
    assert twilio.post(callback, report(rec, RecordingSid="nope")).status_code == 400
    assert twilio.post(callback, report(rec), token="wrong").status_code == 403
    assert rows(app)[0].status == VoicemailStatus.RECORDING
    reply = twilio.post(callback, report(rec, RecordingStatus="absent", ErrorCode="13617"))
    assert reply.status_code == 204
    [rec] = rows(app)
    assert rec.status == VoicemailStatus.FAILED and "absent" in rec.status_reason


def test_twilio_refusing_to_record_lets_the_call_go_on(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    RestWithRecordings.refuse = True
    add_agent(app, "li", ["zh"], ["product"])
    _, _, caller_action = talk(app, client, twilio)
    [rec] = rows(app)  # no second try on the replayed start
    assert rec.status == VoicemailStatus.FAILED and "did not start" in rec.status_reason
    reply = client.post("/api/v1/agents/li/conversation", json={"action": "pause_recording"},
                        headers=auth(make_token(app, "li-desk")))  # fmt: skip
    assert reply.status_code == 409 and "not being recorded" in reply.json["error"]["message"]
    rating = Doc.parse(twilio.post(caller_action, call_params(DialCallStatus="answered")).data)
    assert rating.gather() is not None


def test_a_blind_transfer_ends_the_first_agents_recording(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product", "payment"])
    talk(app, client, twilio)
    reply = client.post("/api/v1/agents/li/conversation",
                        json={"action": "transfer", "queue": "payment"},
                        headers=auth(make_token(app, "li-desk")))  # fmt: skip
    assert reply.status_code == 200, reply.json
    assert recordings_asked()[-1]["Status"] == "stopped"


@pytest.fixture
def unrecorded(app_settings: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    app_settings["HOTLINE_MENU"] = menu_with(tmp_path, product="distribution: manual;record: false")
    return app_settings


def test_a_queue_set_not_to_record_says_nothing_and_records_nothing(
    unrecorded: dict[str, Any], app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    doc, _, _ = talk(app, client, twilio)
    assert NOTICE_ZH not in [text for _, text in doc.said()]
    assert recordings_asked() == [] and rows(app) == []


def test_a_called_back_customer_hears_the_notice_then_is_recorded(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    doc = to_queue(twilio)
    _, waiting = wait_loop(twilio, doc)
    twilio.post(path_of(waiting.gather().get("action", "")), call_params(Digits="2"))
    action = path_of(doc.root.find("Enqueue").get("action", ""))  # type: ignore[union-attr]
    twilio.post(action, call_params(QueueResult="leave", QueueTime="25"))
    client.post("/api/v1/agents/li/take-next", headers=auth(make_token(app)))
    placed = RestCalls.placed[0]
    twilio.post(path_of(placed["Url"]),
                {"CallSid": AGENT_LEG, "To": placed["To"], "CallStatus": "in-progress"})  # fmt: skip
    customer = "CA" + f"{2:032x}"  # the stand-in's sid for the customer's leg
    room = {"AccountSid": call_params()["AccountSid"], "ConferenceSid": ROOM,
            "FriendlyName": f"hotline-{SID}", "SequenceNumber": "2"}  # fmt: skip
    joined = {**room, "StatusCallbackEvent": "participant-join", "CallSid": customer,
              "ParticipantLabel": "caller"}  # fmt: skip
    assert twilio.post("/voice/queue/conference", joined).status_code == 204
    announce = RestCalls.placed[-1]
    assert announce["path"].endswith(f"/Conferences/{ROOM}/Participants/{customer}.json")
    notice = Doc.parse(twilio.post(path_of(announce["AnnounceUrl"]), call_params()).data)
    assert notice.said() == [("cmn-CN", NOTICE_ZH)]
    assert recordings_asked() == []  # not before the notice was heard
    ended = {**room, "StatusCallbackEvent": "announcement-end", "CallSid": customer}
    for _ in range(2):
        assert twilio.post("/voice/queue/conference", ended).status_code == 204
    [start] = recordings_asked()
    assert start["path"].endswith(f"/Calls/{customer}/Recordings.json")
    [rec] = rows(app)
    assert (rec.direction, rec.call_sid, rec.status) == ("callback", customer, "recording")


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        ('record: "off"', "line 187: node 'product': record must be true or false"),
        ("record: 1", "node 'product': record must be true or false"),
    ],
)
def test_the_record_setting_is_checked(tmp_path: Path, lines: str, problem: str) -> None:
    with pytest.raises(MenuError, match=problem):
        load_menu(menu_with(tmp_path, product=lines))


def test_a_recorded_queue_needs_the_notice(tmp_path: Path) -> None:
    path = Path(menu_with(tmp_path))
    text = path.read_text("utf-8")
    path.write_text(re.sub(r"  recording_notice:\n.*\n.*\n", "", text), "utf-8")
    with pytest.raises(MenuError, match=r"line \d+: node 'product': .*'recording_notice'"):
        load_menu(str(path))
    path.write_text(path.read_text("utf-8").replace("# record: false", "record: false"), "utf-8")
    with pytest.raises(MenuError, match="node 'payment'"):  # on by default elsewhere
        load_menu(str(path))


def test_the_agent_pauses_and_resumes_from_the_board_in_their_language(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    talk(app, client, twilio)
    sign_in(client, "li", "password1")
    zh = {"Accept-Language": "zh-CN"}
    board = client.get("/board", headers=zh).get_data(as_text=True)
    assert "暂停录音" in board and "继续录音" in board
    token = csrf(client, "/board")
    for action, said in (("pause_recording", "录音已暂停"), ("resume_recording", "录音已继续")):
        reply = client.post(f"/board/call/{action}", data={"csrf_token": token}, headers=zh,
                            follow_redirects=True)  # fmt: skip
        assert said in reply.get_data(as_text=True)
    again = client.post("/board/call/resume_recording", data={"csrf_token": token}, headers=zh,
                        follow_redirects=True)  # fmt: skip
    assert "录音未暂停" in again.get_data(as_text=True)
    [rec] = rows(app)
    assert len(rec.pauses) == 1 and rec.paused_at is None


def connect_call_back(twilio: Twilio, message_id: int) -> Doc:
    """Twilio asks what li's phone does once li answers the call-back of ``message_id``."""
    params = call_params(CallSid=AGENT_LEG, CallStatus="in-progress", Direction="outbound-api")
    reply = twilio.post(f"/voice/message-call/connect?message={message_id}&agent=1", params)
    assert reply.status_code == 200
    return Doc.parse(reply.data)


def test_a_call_back_from_the_inbox_is_recorded_by_its_dial_after_the_notice(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["after_sales"])
    message_id = add_message(app)
    for _ in range(2):  # Twilio's retry of the same leg makes no second recording
        doc = connect_call_back(twilio, message_id)
    dial = doc.root.find("Dial")
    assert dial is not None and dial.get("record") == "record-from-answer-dual"
    number = dial.find("Number")
    assert number is not None and number.text == "+8613800138000"
    notice = Doc.parse(twilio.post(path_of(number.get("url", "")), call_params()).data)
    assert notice.said() == [("cmn-CN", NOTICE_ZH)]
    [rec] = rows(app)
    assert (rec.call_sid, rec.voicemail_id, rec.direction, rec.customer_channel) == (
        AGENT_LEG, message_id, "callback", 2)  # fmt: skip
    assert rec.status == VoicemailStatus.RECORDING and rec.recording_sid is None
    callback = path_of(dial.get("recordingStatusCallback", ""))
    assert "in-progress" in dial.get("recordingStatusCallbackEvent", "").split()

    # Twilio says it started: the message page offers to pause it, and pausing asks Twilio.
    started = report(rec, CallSid=AGENT_LEG, RecordingStatus="in-progress")
    del started["RecordingDuration"]
    assert twilio.post(callback, started).status_code == 204
    sign_in(client, "li", "password1")
    page = f"/inbox/{message_id}"
    assert 'id="pause-recording"' in client.get(page).get_data(as_text=True)
    reply = client.post(f"{page}/call-back/recording", follow_redirects=True,
                        data={"csrf_token": csrf(client, page), "pause": "1"})  # fmt: skip
    assert "Recording paused." in reply.get_data(as_text=True)
    [paused] = recordings_asked()
    assert paused["path"].endswith(f"/Calls/{AGENT_LEG}/Recordings/{RECORDING}.json")
    assert paused["Status"] == "paused"
    assert twilio.post(callback, report(rec, CallSid=AGENT_LEG)).status_code == 204
    [rec] = rows(app)
    assert (rec.status, rec.recording_duration, len(rec.pauses)) == (VoicemailStatus.PENDING, 42, 1)
    with app.app_context():
        audits = db.session.scalars(select(AuditEvent.action)).all()
    assert "recording_paused" in audits


@pytest.fixture
def after_sales_unrecorded(app_settings: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    app_settings["HOTLINE_MENU"] = menu_with(tmp_path, after_sales="record: false")
    return app_settings


def test_a_call_back_on_a_topic_not_recorded_has_no_notice_and_no_recording(
    after_sales_unrecorded: dict[str, Any], app: Flask, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["after_sales"])
    dial = connect_call_back(twilio, add_message(app)).root.find("Dial")
    assert dial is not None and dial.get("record") is None
    number = dial.find("Number")
    assert number is not None and number.get("url") is None and rows(app) == []
