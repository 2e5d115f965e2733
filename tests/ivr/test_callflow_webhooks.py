"""Voice webhooks: signatures, malformed requests, retries, the call log and apologies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import func, select

from ivr.database import db
from ivr.models import Call, CallEvent, Outcome
from ivr.settings import DEFAULT_MENU
from tests.conftest import PUBLIC_BASE_URL, Twilio, sign
from tests.factories import SID, call_params, path_of
from tests.twiml import Doc


def answer(twilio: Twilio, doc: Doc, digits: str | None) -> Doc:
    """Press keys at the Gather (or stay silent and follow the Redirect)."""
    if digits is None:
        url = doc.redirect()
        params = call_params(CallStatus="in-progress")
    else:
        url = doc.gather().get("action", "")
        params = call_params(CallStatus="in-progress", Digits=digits)
    reply = twilio.post(path_of(url), params)
    assert reply.status_code == 200, reply.data
    return Doc.parse(reply.data)


def stored_call(app: Flask) -> tuple[Call, list[CallEvent]]:
    with app.app_context():
        call = db.session.scalars(select(Call).where(Call.sid == SID)).one()
        events = db.session.scalars(
            select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.at)
        ).all()
        db.session.expunge_all()
        return call, list(events)


def test_incoming_call_gets_short_bilingual_language_choice(app: Flask, twilio: Twilio) -> None:
    reply = twilio.post("/voice/incoming", call_params())
    assert reply.status_code == 200
    assert reply.mimetype == "text/xml"
    doc = Doc.parse(reply.data)
    gather = doc.gather()
    assert gather.get("numDigits") == "1"
    assert [say.get("language") for say in gather.iter("Say")] == ["cmn-CN", "en-US"]
    assert [say.get("voice") for say in gather.iter("Say")] == [
        "Polly.Zhiyu-Neural",
        "Polly.Joanna",
    ]
    call, events = stored_call(app)
    assert (call.from_number, call.to_number, call.status) == (
        "+8613800138000",
        "+864008001234",
        "ringing",
    )
    assert [e.kind for e in events] == ["incoming", "node"]


def test_foreign_caller_hears_english_first_and_gets_it_on_silence(
    app: Flask, twilio: Twilio
) -> None:
    doc = Doc.parse(twilio.post("/voice/incoming", call_params(From="+14155550100")).data)
    assert [say.get("language") for say in doc.gather().iter("Say")] == ["en-US", "cmn-CN"]
    menu = answer(twilio, doc, None)
    assert menu.languages() == {"en-US"}
    assert stored_call(app)[0].language == "en"


def test_silence_at_language_choice_defaults_to_mandarin(app: Flask, twilio: Twilio) -> None:
    doc = Doc.parse(twilio.post("/voice/incoming", call_params()).data)
    menu = answer(twilio, doc, None)
    assert menu.languages() == {"cmn-CN"}
    call, events = stored_call(app)
    assert call.language == "zh"
    assert call.path == ["language", "main"]
    language = next(e for e in events if e.kind == "language")
    assert language.detail == {"language": "zh", "chosen_by": "default"}


def test_wrong_keys_reprompt_in_callers_language_then_go_to_an_agent(
    app: Flask, twilio: Twilio
) -> None:
    doc = answer(twilio, Doc.parse(twilio.post("/voice/incoming", call_params()).data), "2")
    for _ in range(2):
        doc = answer(twilio, doc, "7")
        assert doc.said()[0] == ("en-US", "Sorry, that is not one of the options.")
        assert doc.gather() is not None
    doc = answer(twilio, doc, None)  # third miss: silence
    texts = [text for _, text in doc.said()]
    assert texts[:2] == ["Sorry, we did not get your choice.", "Let us take you further."]
    assert doc.languages() == {"en-US"}
    call, events = stored_call(app)
    assert call.path[call.path.index("main") + 1] == "agent"
    assert [e.kind for e in events].count("invalid_input") == 2
    assert any(e.kind == "gave_up" and e.detail["to"] == "agent" for e in events)
    # Never silence or a bare hang-up: the caller is told something and goes on.
    assert doc.verbs()[-1] in {"Hangup", "Redirect", "Gather", "Record", "Enqueue"}


def test_star_repeats_the_menu(app: Flask, twilio: Twilio) -> None:
    doc = answer(twilio, Doc.parse(twilio.post("/voice/incoming", call_params()).data), "1")
    again = answer(twilio, doc, "*")
    assert [t for _, t in again.said()] == [t for _, t in doc.said()]
    assert any(e.kind == "repeat" for e in stored_call(app)[1])


def test_unsigned_and_forged_requests_are_refused(app: Flask, twilio: Twilio) -> None:
    client = twilio.client
    assert client.post("/voice/incoming", data=call_params()).status_code == 403
    forged = {
        "X-Twilio-Signature": sign(PUBLIC_BASE_URL + "/voice/incoming", call_params(), "wrong")
    }
    assert client.post("/voice/incoming", data=call_params(), headers=forged).status_code == 403
    # Signed for other parameters than those sent.
    tampered = {"X-Twilio-Signature": sign(PUBLIC_BASE_URL + "/voice/incoming", call_params())}
    sent = call_params(From="+8613900000000")
    assert client.post("/voice/incoming", data=sent, headers=tampered).status_code == 403
    # Signed for the loopback URL instead of the public one (a proxy that was not accounted for).
    local = {"X-Twilio-Signature": sign("http://localhost/voice/incoming", call_params())}
    assert client.post("/voice/incoming", data=call_params(), headers=local).status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Call)) == 0


def test_every_voice_route_checks_the_signature(app: Flask, twilio: Twilio) -> None:
    for path in [
        "/voice/incoming",
        "/voice/status",
        "/voice/fallback",
        "/voice/node/main",
        "/voice/input/main?s=1&a=0",
    ]:
        assert twilio.client.post(path, data=call_params()).status_code == 403, path


def test_malformed_requests_get_a_clear_4xx(app: Flask, twilio: Twilio) -> None:
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("/voice/incoming", {"From": "+8613800138000"}, 400, "CallSid is required"),
        ("/voice/incoming", call_params(CallSid="CA123"), 400, "CallSid is malformed"),
        ("/voice/incoming", call_params(CallSid="CA" + "x" * 300), 400, "longer than"),
        ("/voice/input/main?s=abc&a=0", call_params(), 400, "query parameter s"),
        ("/voice/input/main?s=2&a=-1", call_params(), 400, "query parameter a"),
        ("/voice/status", call_params(CallStatus=""), 400, "CallStatus is required"),
        (
            "/voice/status",
            call_params(CallStatus="completed", CallDuration="ten"),
            400,
            "CallDuration must be a whole number",
        ),
    ]
    for path, params, status, message in cases:
        reply = twilio.post(path, params)
        assert reply.status_code == status, (path, params, reply.data)
        assert message in reply.get_data(as_text=True)
    assert twilio.client.get("/voice/incoming").status_code == 405


def test_json_body_and_oversized_body_are_refused(app: Flask, twilio: Twilio) -> None:
    reply = twilio.client.post("/voice/incoming", json=call_params())
    assert reply.status_code == 415
    big = call_params(Junk="x" * (app.config["MAX_CONTENT_LENGTH"] + 1))
    headers = {"X-Twilio-Signature": sign(PUBLIC_BASE_URL + "/voice/incoming", big)}
    assert twilio.client.post("/voice/incoming", data=big, headers=headers).status_code == 413


def test_retried_requests_do_not_duplicate_rows(app: Flask, twilio: Twilio) -> None:
    first = twilio.post("/voice/incoming", call_params())
    second = twilio.post("/voice/incoming", call_params())
    assert Doc.parse(first.data).said() == Doc.parse(second.data).said()
    doc = Doc.parse(first.data)
    url = path_of(doc.gather().get("action", ""))
    for _ in range(3):
        twilio.post(url, call_params(Digits="1"))
    done = call_params(CallStatus="completed", CallDuration="31")
    twilio.post("/voice/status", done)
    twilio.post("/voice/status", done)
    call, events = stored_call(app)
    assert call.path == ["language", "main"]
    assert [e.kind for e in events] == ["incoming", "node", "keys", "language", "node", "status"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Call)) == 1


def test_status_callback_closes_the_call(app: Flask, twilio: Twilio) -> None:
    twilio.post("/voice/incoming", call_params())
    reply = twilio.post("/voice/status", call_params(CallStatus="completed", CallDuration="42"))
    assert reply.status_code == 204
    call, _ = stored_call(app)
    assert (call.status, call.duration, call.outcome) == ("completed", 42, Outcome.ABANDONED)
    assert call.ended_at is not None
    # A late "ringing" does not reopen it.
    twilio.post("/voice/status", call_params(CallStatus="ringing"))
    assert stored_call(app)[0].status == "completed"


def test_status_for_an_unseen_call_is_logged(app: Flask, twilio: Twilio) -> None:
    twilio.post("/voice/status", call_params(CallStatus="busy", CallDuration="0"))
    call, _events = stored_call(app)
    assert (call.status, call.outcome) == ("busy", Outcome.FAILED)


def test_unknown_node_in_an_old_url_restarts_the_menu(app: Flask, twilio: Twilio) -> None:
    twilio.post("/voice/incoming", call_params())
    reply = twilio.post("/voice/input/removed_node?lang=zh&s=3&a=0", call_params(Digits="1"))
    doc = Doc.parse(reply.data)
    assert doc.gather() is not None
    assert any(e.kind == "unknown_node" for e in stored_call(app)[1])


def test_a_failure_inside_a_webhook_still_answers_with_an_apology(
    app: Flask, twilio: Twilio
) -> None:
    twilio.post("/voice/incoming", call_params())
    # Make the order lookup fail in a way the flow does not expect: the orders table is gone.
    with app.app_context():
        db.session.execute(db.text("DROP TABLE orders"))
        db.session.commit()
    try:
        reply = twilio.post("/voice/input/delivery?lang=en&s=3&a=0", call_params(Digits="12345"))
        assert reply.status_code == 200
        doc = Doc.parse(reply.data)
        assert doc.said()[0][0] == "en-US"
        assert "something went wrong" in doc.said()[0][1]
        # It offers a message: a redirect to the voicemail node that will not retry forever.
        assert "/voice/node/message" in doc.redirect() and "err=1" in doc.redirect()
        message = Doc.parse(twilio.post(path_of(doc.redirect()), call_params()).data)
        assert "Record" in message.verbs()
        assert any(e.kind == "error" for e in stored_call(app)[1])
    finally:
        with app.app_context():
            db.metadata.tables["orders"].create(db.engine)


def test_a_second_failure_says_goodbye_instead_of_looping(app: Flask, twilio: Twilio) -> None:
    twilio.post("/voice/incoming", call_params())
    with app.app_context():
        db.session.execute(db.text("DROP TABLE call_events"))
        db.session.commit()
    try:
        first = Doc.parse(
            twilio.post("/voice/input/language?s=1&a=0", call_params(Digits="1")).data
        )
        assert "err=1" in first.redirect()
        second = Doc.parse(twilio.post(path_of(first.redirect()), call_params()).data)
        assert second.verbs()[-1] == "Hangup"
        assert second.languages() == {"cmn-CN"}
    finally:
        with app.app_context():
            db.metadata.tables["call_events"].create(db.engine)


def test_fallback_url_apologises(app: Flask, twilio: Twilio) -> None:
    reply = twilio.post("/voice/fallback", call_params(ErrorCode="11200", ErrorUrl="https://x"))
    assert reply.status_code == 200
    doc = Doc.parse(reply.data)
    assert doc.said()[0][0] == "cmn-CN"
    assert "/voice/node/message" in doc.redirect()


@pytest.fixture
def never_open(app_settings: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """A menu whose agent queue has opening hours that never open."""
    raw = yaml.safe_load(DEFAULT_MENU.read_text(encoding="utf-8"))
    raw["hours"] = {"never": {"weekly": {}, "holidays": []}}
    raw["nodes"]["agent"].update(hours="never", closed="closed")
    menu = tmp_path / "menu.yaml"
    menu.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    app_settings["HOTLINE_MENU"] = str(menu)
    return app_settings


def test_closed_hours_route_to_the_closed_node(
    never_open: dict, app: Flask, twilio: Twilio
) -> None:
    doc = Doc.parse(twilio.post("/voice/incoming", call_params()).data)
    doc = answer(twilio, doc, "2")
    doc = answer(twilio, doc, "0")
    texts = [t for _, t in doc.said()]
    assert texts[0] == "We are closed at the moment."
    assert texts[1].startswith("Our hours are")
    assert "Record" in doc.verbs()  # the closed node leads on to a message
    call, events = stored_call(app)
    assert call.path[-3:] == ["main", "closed", "message"]
    assert any(e.kind == "closed_hours" and e.node == "agent" for e in events)


def test_webhooks_set_no_cookie_and_make_no_cookie_signer(
    app: Flask, twilio: Twilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twilio keeps no cookies: a webhook neither starts a session nor pays for opening one."""

    def no_signer(*_: Any) -> None:
        raise AssertionError("a cookie signer was made for a request without a cookie")

    monkeypatch.setattr(app.session_interface, "get_signing_serializer", no_signer)
    answer = twilio.post("/voice/incoming", call_params())
    assert answer.status_code == 200
    assert "Set-Cookie" not in answer.headers
