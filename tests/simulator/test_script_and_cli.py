"""Caller scripts, the WSGI transport and ``flask simulate call``."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import pytest
from flask import Flask

from ivr.simulator import (
    Caller,
    Hangup,
    Hold,
    Press,
    Silence,
    Simulator,
    Speak,
    Wait,
    WsgiTransport,
    parse_script,
)
from ivr.simulator.cli import simulate
from ivr.simulator.media import audio_seconds
from tests.simulator.conftest import ACCOUNT, PUBLIC, TOKEN, ToyApp, twiml
from tests.speech import clip

MENU = twiml(
    '<Gather action="/voice/menu" numDigits="1"><Say language="cmn-CN">请按键</Say></Gather>'
)


def test_parse_script() -> None:
    actions = parse_script("2 1 . 12345# hangup speak:2:hangup")

    assert actions[:5] == [Press("2"), Press("1"), Silence(), Press("12345#"), Hangup()]
    speak = actions[5]
    assert isinstance(speak, Speak) and speak.hangup_after
    assert audio_seconds(speak.audio) == 2.0
    star, quiet = parse_script("speak:1:* speak:1:.")
    assert isinstance(star, Speak) and (star.key, star.hangup_after) == ("*", False)
    assert isinstance(quiet, Speak) and quiet.key == ""
    assert parse_script("1 1 wait:30 hold 5") == [
        Press("1"),
        Press("1"),
        Wait(30),
        Hold(),
        Press("5"),
    ]
    with pytest.raises(ValueError, match="unknown caller action"):
        parse_script("2 x")
    with pytest.raises(ValueError, match="bad speak suffix"):
        parse_script("speak:1:later")


def test_speak_a_file_as_a_phone_line_records_it(tmp_path: Path) -> None:
    [speak] = parse_script(f"speak:{clip('zeroth_104_003_0294.flac').path}:hangup")
    assert isinstance(speak, Speak) and speak.hangup_after
    with wave.open(io.BytesIO(speak.audio)) as recorded:  # FLAC at 16 kHz in, as Twilio keeps it
        assert (recorded.getframerate(), recorded.getnchannels(), recorded.getsampwidth()) == (
            8000, 1, 2,
        )  # fmt: skip
    assert audio_seconds(speak.audio) == pytest.approx(6.86, abs=0.05)
    with pytest.raises(ValueError, match="speak:FILE"):
        parse_script("1 9 speek:message.wav")
    junk = tmp_path / "notes.txt"
    junk.write_text("not a recording")
    with pytest.raises(ValueError, match="not audio ffmpeg can read"):
        parse_script(f"speak:{junk}")
    with pytest.raises(FileNotFoundError):
        parse_script(f"speak:{tmp_path / 'missing.wav'}")


def test_wsgi_transport_calls_the_app_in_process(toy: ToyApp) -> None:
    toy.pages["/voice/incoming"] = MENU
    toy.pages["/voice/menu"] = twiml("<Say>ok</Say>")
    with Simulator(
        WsgiTransport(toy.flask()), public_base_url=PUBLIC, auth_token=TOKEN, account_sid=ACCOUNT
    ) as sim:
        result = sim.call(Caller(script=[Press("3")]))

    assert toy.form("/voice/menu")["Digits"] == "3"
    assert result.said() == ["请按键", "ok"]
    assert result.errors == []


@pytest.fixture
def cli_app(toy: ToyApp) -> Flask:
    """The toy app with the simulate command and hotline's configuration keys."""
    toy.pages["/voice/incoming"] = MENU
    toy.pages["/voice/menu"] = twiml("<Say>bye</Say>")
    app = toy.flask()
    app.config.update(TWILIO_AUTH_TOKEN=TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT, PUBLIC_BASE_URL=PUBLIC)
    app.cli.add_command(simulate)
    return app


def test_cli_call_prints_the_transcript(cli_app: Flask, toy: ToyApp) -> None:
    result = cli_app.test_cli_runner().invoke(args=["simulate", "call", "--keys", "2"])

    assert result.exit_code == 0, result.output
    assert "twilio  say [cmn-CN] 请按键" in result.output
    assert "caller  press 2" in result.output
    assert toy.form("/voice/menu")["Digits"] == "2"


def test_cli_call_over_http_with_replay(cli_app: Flask, toy: ToyApp) -> None:
    args = [
        "simulate",
        "call",
        "--keys",
        "4",
        "--url",
        toy.url,
        "--replay",
        "--from",
        "+447700900123",
    ]
    result = cli_app.test_cli_runner().invoke(args=args)

    assert result.exit_code == 0, result.output
    assert toy.paths().count("/voice/menu") == 2
    assert toy.form("/voice/menu")["FromCountry"] == "GB"


def test_cli_exits_1_when_the_call_has_errors(cli_app: Flask) -> None:
    cli_app.config["TWILIO_AUTH_TOKEN"] = "wrong"
    result = cli_app.test_cli_runner().invoke(args=["simulate", "call", "--keys", "1"])

    assert result.exit_code == 1
    assert "An application error has occurred." in result.output


def test_cli_refuses_a_non_loopback_url(cli_app: Flask) -> None:
    args = ["simulate", "call", "--url", "http://example.com:8000"]
    result = cli_app.test_cli_runner().invoke(args=args)

    assert result.exit_code == 2
    assert "loopback" in result.output
