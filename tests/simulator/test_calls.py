"""The simulator plays Twilio's call flow: fields, signatures, verbs, errors, status callback."""

from __future__ import annotations

import re
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import pytest

from ivr.simulator import (
    Caller,
    Hangup,
    HttpTransport,
    Press,
    Silence,
    Simulator,
    SimulatorError,
    WsgiTransport,
)
from tests.simulator.conftest import ACCOUNT, ToyApp, twiml

Build = Callable[..., Simulator]
Serve = Callable[..., ToyApp]

GREETING = '<Say language="cmn-CN" voice="Polly.Zhiyu-Neural">欢迎致电</Say>'


def test_incoming_request_carries_twilio_fields(toy: ToyApp, simulator: Build) -> None:
    toy.pages["/voice/incoming"] = twiml(GREETING, "<Hangup/>")
    result = simulator(toy).call(Caller(number="+8613800138000", to="+14155550100"))

    form = toy.form("/voice/incoming")
    assert re.fullmatch(r"CA[0-9a-f]{32}", form["CallSid"])
    assert form["CallSid"] == result.sid
    assert form["AccountSid"] == ACCOUNT
    assert (form["From"], form["Caller"]) == ("+8613800138000", "+8613800138000")
    assert (form["To"], form["Called"]) == ("+14155550100", "+14155550100")
    assert (form["FromCountry"], form["ToCountry"]) == ("CN", "US")
    assert form["CallStatus"] == "ringing"
    assert form["Direction"] == "inbound"
    assert form["ApiVersion"] == "2010-04-01"
    assert result.said("cmn-CN") == ["欢迎致电"]
    assert result.transcript[0].voice == "Polly.Zhiyu-Neural"
    assert result.errors == []


def test_later_requests_are_in_progress_and_status_callback_closes(
    toy: ToyApp, simulator: Build
) -> None:
    toy.pages["/voice/incoming"] = twiml('<Pause length="7"/>', "<Redirect>/voice/next</Redirect>")
    toy.pages["/voice/next"] = twiml('<Pause length="3"/>')
    result = simulator(toy).call(Caller())

    assert toy.paths() == ["/voice/incoming", "/voice/next", "/voice/status"]
    assert toy.form("/voice/next")["CallStatus"] == "in-progress"
    status = toy.form("/voice/status")
    assert status["CallStatus"] == "completed"
    assert status["CallDuration"] == "10" == str(result.duration)
    assert status["CallbackSource"] == "call-progress-events"
    assert status["SequenceNumber"] == "0"
    assert parsedate_to_datetime(status["Timestamp"]).tzinfo is not None
    assert status["CallSid"] == result.sid
    assert [line.kind for line in result.transcript] == ["pause", "redirect", "pause", "hangup"]
    assert result.transcript[-1].text == "end of document"
    assert result.transcript[-1].at == 10.0
    assert result.status == "completed"


def test_wrong_auth_token_is_an_application_error(toy: ToyApp, simulator: Build) -> None:
    toy.pages["/voice/incoming"] = twiml(GREETING)
    result = simulator(toy, auth_token="not-the-token").call(Caller())

    assert toy.received == []
    assert result.requests[0].status == 403
    assert "HTTP 403" in result.errors[0]
    assert result.transcript[0].kind == "error"
    assert result.transcript[0].text == "An application error has occurred."


def test_relative_urls_resolve_against_a_path_prefixed_public_base(
    serve: Serve, simulator: Build
) -> None:
    toy = serve("https://example.org/hotline")
    toy.pages["/voice/incoming"] = twiml('<Gather action="menu?step=2" numDigits="1"/>')
    toy.pages["/voice/menu"] = twiml("<Redirect>/hotline/voice/last</Redirect>")
    toy.pages["/voice/last"] = twiml("<Redirect>https://example.org/hotline/voice/end</Redirect>")
    toy.pages["/voice/end"] = twiml("<Hangup/>")
    result = simulator(toy).call(Caller(script=[Press("2")]))

    assert toy.paths() == [
        "/voice/incoming",
        "/voice/menu?step=2",
        "/voice/last",
        "/voice/end",
        "/voice/status",
    ]
    assert result.requests[1].url == "https://example.org/hotline/voice/menu?step=2"
    assert result.errors == []


@pytest.mark.parametrize(
    ("gather", "keys", "digits", "finished_on"),
    [
        ('<Gather action="/voice/menu"/>', "12345#", "12345", "#"),
        ('<Gather action="/voice/menu" finishOnKey="*"/>', "12#4*", "12#4", "*"),
        ('<Gather action="/voice/menu" numDigits="1"/>', "27", "2", ""),
        ('<Gather action="/voice/menu" timeout="3"/>', "42", "42", ""),
    ],
)
def test_gather_sends_digits_as_twilio_does(
    toy: ToyApp, simulator: Build, gather: str, keys: str, digits: str, finished_on: str
) -> None:
    toy.pages["/voice/incoming"] = twiml(gather)
    toy.pages["/voice/menu"] = twiml("<Say>thanks</Say>")
    result = simulator(toy).call(Caller(script=[Press(keys)]))

    form = toy.form("/voice/menu")
    assert (form["Digits"], form["FinishedOnKey"]) == (digits, finished_on)
    assert result.said() == ["thanks"]


def test_gather_plays_nested_prompts_and_defaults_action_to_the_document(
    toy: ToyApp, simulator: Build
) -> None:
    toy.pages["/voice/incoming"] = lambda form: (
        twiml("<Say>done</Say>")
        if form.get("Digits")
        else twiml('<Gather numDigits="1"><Say>press</Say><Play>hold.mp3</Play><Pause/></Gather>')
    )
    result = simulator(toy).call(Caller(script=[Press("5")]))

    assert toy.paths() == ["/voice/incoming", "/voice/incoming", "/voice/status"]
    kinds = [(line.who, line.kind) for line in result.transcript]
    assert kinds[:4] == [
        ("twilio", "say"),
        ("twilio", "play"),
        ("twilio", "pause"),
        ("caller", "press"),
    ]
    assert result.transcript[1].text == "https://hotline.example.com/voice/hold.mp3"
    assert result.said() == ["press", "done"]


def test_silence_at_a_gather_continues_with_the_next_verb(toy: ToyApp, simulator: Build) -> None:
    toy.pages["/voice/incoming"] = twiml(
        '<Gather action="/voice/menu" timeout="4"><Say>choose</Say></Gather>', "<Say>no input</Say>"
    )
    result = simulator(toy).call(Caller(script=[Silence()]))

    assert "/voice/menu" not in toy.paths()
    assert result.said() == ["choose", "no input"]
    silence = next(line for line in result.transcript if line.kind == "silence")
    assert result.transcript[-2].at == pytest.approx(silence.at + 4)


def test_action_on_empty_result_requests_the_action_with_empty_digits(
    toy: ToyApp, simulator: Build
) -> None:
    toy.pages["/voice/incoming"] = twiml(
        '<Gather action="/voice/menu" actionOnEmptyResult="true"/>', "<Say>unreached</Say>"
    )
    toy.pages["/voice/menu"] = twiml("<Hangup/>")
    result = simulator(toy).call(Caller(script=[Silence()]))

    assert toy.form("/voice/menu")["Digits"] == ""
    assert result.said() == []


def test_caller_hangs_up_or_runs_out_of_script(toy: ToyApp, simulator: Build) -> None:
    toy.pages["/voice/incoming"] = twiml('<Gather action="/voice/menu"/>')
    hung_up = simulator(toy).call(Caller(script=[Hangup()]))
    ran_out = simulator(toy).call(Caller(script=[]))

    assert hung_up.transcript[-1].who == ran_out.transcript[-1].who == "caller"
    assert "script ended" in ran_out.transcript[-1].text
    assert "/voice/menu" not in toy.paths()
    assert toy.paths().count("/voice/status") == 2


def test_replay_sends_every_request_twice_and_uses_the_second_answer(
    toy: ToyApp, simulator: Build
) -> None:
    answers = iter([twiml("<Say>first</Say>"), twiml("<Say>second</Say>")])
    toy.pages["/voice/incoming"] = lambda form: next(answers)
    result = simulator(toy, replay=True).call(Caller())

    assert toy.paths() == ["/voice/incoming"] * 2 + ["/voice/status"] * 2
    assert toy.received[0].idempotency_token == toy.received[1].idempotency_token
    assert toy.received[0].form == toy.received[1].form
    assert result.said() == ["second"]


def test_urls_off_the_public_base_are_refused_not_fetched(toy: ToyApp, simulator: Build) -> None:
    toy.pages["/voice/incoming"] = twiml("<Redirect>https://evil.example.net/voice/x</Redirect>")
    with pytest.raises(SimulatorError, match=r"evil\.example\.net") as caught:
        simulator(toy).call(Caller())

    assert toy.paths() == ["/voice/incoming"]
    assert caught.value.result is not None
    assert caught.value.result.transcript[-1].kind == "redirect"


@pytest.mark.parametrize(
    "url", ["http://example.com", "http://10.0.0.1:8000", "ftp://127.0.0.1", "http://192.168.1.2"]
)
def test_http_transport_only_talks_to_loopback(url: str) -> None:
    with pytest.raises(ValueError):
        HttpTransport(url)


def test_request_limit_stops_a_redirect_loop(toy: ToyApp, simulator: Build) -> None:
    toy.pages["/voice/incoming"] = twiml("<Redirect>incoming</Redirect>")
    result = simulator(toy, max_requests=5).call(Caller())

    assert toy.paths().count("/voice/incoming") == 5
    assert "request limit of 5" in result.errors[0]
    assert toy.paths()[-1] == "/voice/status"


def test_server_error_is_an_application_error(toy: ToyApp, simulator: Build) -> None:
    toy.pages["/voice/incoming"] = (500, "boom", "text/html")
    result = simulator(toy).call(Caller())

    assert result.transcript_text().endswith("twilio  error An application error has occurred.")
    assert "HTTP 500 (error 11200)" in result.errors[0]
    assert toy.form("/voice/status")["CallStatus"] == "completed"


@pytest.mark.parametrize(
    ("page", "code"),
    [((500, "boom", "text/html"), "11200"), ((200, "<html>hello</html>", "text/html"), "12100")],
)
def test_fallback_url_is_tried_with_the_error(
    toy: ToyApp, simulator: Build, page: tuple[int, str, str], code: str
) -> None:
    toy.pages["/voice/incoming"] = page
    toy.pages["/voice/fallback"] = twiml("<Say>sorry, try later</Say>")
    result = simulator(toy, fallback_path="/voice/fallback").call(Caller())

    fallback = toy.form("/voice/fallback")
    assert fallback["ErrorCode"] == code
    assert fallback["ErrorUrl"] == "https://hotline.example.com/voice/incoming"
    assert fallback["CallStatus"] == "ringing"
    assert result.said() == ["sorry, try later"]
    assert "fallback" in result.errors[0]


def test_unsupported_verb_ends_the_call_with_a_clear_error(toy: ToyApp, simulator: Build) -> None:
    toy.pages["/voice/incoming"] = twiml(
        '<Say>hold on</Say><Connect><Stream url="wss://x"/></Connect>'
    )
    result = simulator(toy).call(Caller())

    assert result.errors == ["<Connect> is not supported by the simulator yet"]
    assert result.said() == ["hold on"]


def test_reject_leaves_the_call_unanswered(toy: ToyApp, simulator: Build) -> None:
    toy.pages["/voice/incoming"] = twiml('<Reject reason="busy"/>')
    result = simulator(toy).call(Caller())

    assert (result.status, result.duration) == ("busy", 0)
    assert toy.form("/voice/status")["CallStatus"] == "busy"


def test_transcript_text_is_readable(toy: ToyApp, simulator: Build) -> None:
    toy.pages["/voice/incoming"] = twiml(GREETING, '<Gather action="/voice/menu"/>')
    toy.pages["/voice/menu"] = twiml("<Hangup/>")
    text = simulator(toy).call(Caller(script=[Press("2")])).transcript_text()

    lines = text.splitlines()
    assert lines[0] == "  0.0s twilio  say [cmn-CN] 欢迎致电"
    assert re.fullmatch(r" +\d+\.\ds caller  press 2", lines[1])
    assert lines[2].endswith("twilio  hangup <Hangup>")


def test_say_takes_its_language_from_a_polly_voice(toy: ToyApp, simulator: Build) -> None:
    toy.pages["/voice/incoming"] = twiml(
        '<Say voice="Polly.Zhiyu-Neural">您好</Say>',
        '<Say voice="Google.en-GB-Neural2-A">hello</Say>',
        "<Say>default</Say>",
    )
    result = simulator(toy).call(Caller())

    assert [line.language for line in result.transcript if line.kind == "say"] == [
        "cmn-CN",
        "en-GB",
        "en-US",
    ]
    assert result.errors == []


def test_say_with_a_voice_that_does_not_speak_its_language_fails(
    toy: ToyApp, simulator: Build
) -> None:
    toy.pages["/voice/incoming"] = twiml(
        '<Say language="cmn-CN" voice="Polly.Joanna">您好</Say>',
        '<Say language="zh-CN" voice="Polly.Zhiyu">您好</Say>',
        '<Say language="en-US" voice="Polly.Joanna">hello</Say>',
    )
    result = simulator(toy).call(Caller())

    assert result.said() == ["hello"]
    assert len(result.errors) == 2
    assert 'voice "Polly.Joanna" speaks en-US, not language "cmn-CN"' in result.errors[0]
    assert [line.kind for line in result.transcript][:2] == ["error", "error"]


def test_invalid_numbers_fall_back_to_twilio_defaults_with_a_warning(
    toy: ToyApp, simulator: Build
) -> None:
    toy.pages["/voice/incoming"] = twiml(
        '<Pause length="soon"/>', '<Gather timeout="-1" numDigits="0"/>', "<Say>next</Say>"
    )
    result = simulator(toy).call(Caller(script=[Silence()]))

    assert result.said() == ["next"]
    assert len(result.warnings) == 3
    assert result.transcript[-2].at == pytest.approx(1 + 5)


def test_endless_prompt_in_a_gather_plays_until_the_caller_answers(
    toy: ToyApp, simulator: Build
) -> None:
    toy.pages["/voice/incoming"] = twiml(
        '<Gather action="/voice/menu" numDigits="1"><Play loop="0">hold.mp3</Play></Gather>'
    )
    toy.pages["/voice/menu"] = twiml("<Say>ok</Say>")
    result = simulator(toy).call(Caller(script=[Press("1")]))

    assert [line.kind for line in result.transcript][:3] == ["play", "press", "say"]


def test_transports_return_status_headers_and_body(toy: ToyApp) -> None:
    toy.pages["/voice/incoming"] = twiml("<Say>hi</Say>")
    form = {"CallSid": "CA" + "0" * 32}
    for transport in (HttpTransport(toy.url), WsgiTransport(toy.flask())):
        unsigned = transport.post("/voice/incoming", form, {})
        assert (unsigned.status, unsigned.body) == (403, "bad signature")
        assert unsigned.content_type.startswith("text/html")
        assert "Content-Length" in unsigned.headers
