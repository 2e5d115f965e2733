"""Bad recordings through the real worker: each ends in a clear state, and the worker keeps going.

Everything is served by the loopback media host and processed in one burst with good messages,
as a worker meets it in production: ffmpeg, the packaged Korean model, the database.
"""

from __future__ import annotations

import logging
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.callflow.menu_file import load_menu
from ivr.settings import DEFAULT_MENU, settings_from_env
from tests.conftest import Twilio
from tests.factories import (
    auth,
    export,
    leave_message,
    make_token,
    stored,
    tone,
    use_media_host,
)
from tests.media_server import MediaHost
from tests.speech import clip, speech
from voicemail.accuracy import character_error_rate
from voicemail.audio import DEFAULT_MAX_SECONDS, AudioError, decode, telephone_line
from voicemail.models import VoicemailStatus
from voicemail.recording import DEFAULT_MAX_LENGTH
from voicemail.worker import work

ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 600


def converted(source: Path, *args: str, fmt: str = "wav") -> bytes:
    """``source`` re-encoded by ffmpeg with ``args`` (rate, channels, sample format)."""
    return subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(source), *args, "-f", fmt, "pipe:1"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip


@pytest.fixture(scope="module")
def two_hours(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real 2-hour 8 kHz recording, small because FLAC packs silence into a few kilobytes."""
    target = tmp_path_factory.mktemp("long") / "two-hours.flac"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi",
         "-i", "anullsrc=r=8000:cl=mono:nb_samples=32768", "-t", "7200",
         "-c:a", "flac", "-compression_level", "0", "-frame_size", "32768", str(target)],
        check=True,
    )  # fmt: skip
    return target.read_bytes()


# --- the limit and what decoding keeps of a file cut short (no model, no database) ---


def test_the_length_limit_is_configurable_and_above_every_record_max_length() -> None:
    assert settings_from_env({})["HOTLINE_MAX_RECORDING_SECONDS"] == DEFAULT_MAX_SECONDS
    limit = settings_from_env({"HOTLINE_MAX_RECORDING_SECONDS": "2"})[
        "HOTLINE_MAX_RECORDING_SECONDS"
    ]
    with pytest.raises(AudioError, match="too long to transcribe: 3 s, over the 2 s limit"):
        decode(export(tone(3.0), "wav"), max_seconds=limit)  # as the worker and the CLI call it
    # A message Twilio recorded within the menu's own max_length must never be refused as long.
    menu = load_menu(DEFAULT_MENU)
    lengths = [
        int(node.settings.get("max_length", DEFAULT_MAX_LENGTH))
        for node in menu.nodes.values()
        if node.type == "voicemail"
    ]
    assert lengths and max(lengths) < DEFAULT_MAX_SECONDS


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_a_recording_cut_off_mid_stream_keeps_what_arrived(fmt: str) -> None:
    whole = export(tone(4.0), fmt)
    audio = decode(whole[: len(whole) // 2])
    assert audio.seconds == pytest.approx(2.0, abs=0.25)


def test_hours_are_refused_from_the_headers_before_decoding(two_hours: bytes) -> None:
    with pytest.raises(AudioError) as refused:
        decode(two_hours)
    # Only the headers know the whole length: decoding would have stopped at the limit.
    assert refused.value.reason == "too long to transcribe: 2 h 0 min, over the 10 min limit"


# --- one burst of the real worker ---


@pytest.fixture
def app_settings(app_settings: dict[str, Any], host: MediaHost) -> dict[str, Any]:
    use_media_host(app_settings, host)
    # A host that answers with something other than audio is given up on at the first attempt
    # here, not after the backoff (test_worker covers the retries).
    app_settings["HOTLINE_WORKER_MAX_ATTEMPTS"] = 1
    return app_settings


@pytest.mark.slow
@pytest.mark.speech
def test_one_burst_of_bad_recordings_ends_each_clearly_and_transcribes_the_good(
    app: Flask,
    client: FlaskClient,
    twilio: Twilio,
    host: MediaHost,
    two_hours: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cut_wav = converted(clip("zeroth_104_003_0193.flac").path, "-ar", "8000")
    cut_mp3 = converted(clip("zeroth_104_003_0193.flac").path, "-ar", "8000", fmt="mp3")
    recordings = {
        "good": telephone_line(speech("zeroth_104_003_0294.flac")),
        "error page": ERROR_PAGE,
        "random bytes": random.Random(20261124).randbytes(4096),
        "jpeg": JPEG,
        "nothing": b"",
        "mp3 tag, then a web page": b"ID3\x04\x00\x00\x00\x00\x00\x00" + ERROR_PAGE,
        "wav cut mid-speech": cut_wav[: 44 + (len(cut_wav) - 44) // 2],
        "mp3 cut in its header": cut_mp3[:100],
        "0 s wav": export(tone(0.0), "wav"),
        "2 hours": two_hours,
        "48 kHz stereo": converted(
            clip("zeroth_104_003_0019.flac").path, "-ar", "48000", "-ac", "2"
        ),
        "11025 Hz": converted(clip("zeroth_104_003_0253.flac").path, "-ar", "11025"),
        "8-bit": converted(clip("zeroth_104_003_0280.flac").path, "-ar", "8000", "-c:a", "pcm_u8"),
    }
    sids = {}
    for number, (name, data) in enumerate(recordings.items()):
        sids[name] = f"RE{number:032d}"
        leave_message(twilio, host, data, sids[name])

    with caplog.at_level(logging.INFO):
        assert work(app, burst=True) == len(recordings)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # the worker never broke
    found = {m.recording_sid: m for m in stored(app)}
    messages = {name: found[sid] for name, sid in sids.items()}
    assert all(m.leased_by is None for m in messages.values())

    def transcribed(name: str, clip_name: str) -> None:
        message = messages[name]
        assert message.status == VoicemailStatus.TRANSCRIBED, (name, message.status_reason)
        reference = clip(clip_name).reference
        assert character_error_rate(reference, message.transcript or "") < 0.5, name

    transcribed("good", "zeroth_104_003_0294.flac")
    # Wrong rates, channels and sample sizes are brought to what the model wants.
    transcribed("48 kHz stereo", "zeroth_104_003_0019.flac")
    transcribed("11025 Hz", "zeroth_104_003_0253.flac")
    transcribed("8-bit", "zeroth_104_003_0280.flac")

    # Whatever arrived of a message cut off mid-speech is transcribed, at its real length.
    cut = messages["wav cut mid-speech"]
    assert cut.status == VoicemailStatus.TRANSCRIBED, cut.status_reason
    assert cut.transcript and cut.duration == pytest.approx(4.4, abs=0.2)

    # What is not audio is never kept.
    for name in ("error page", "random bytes", "jpeg"):
        message = messages[name]
        assert message.status == VoicemailStatus.FAILED, name
        assert message.status_reason == (
            "gave up after 1 attempt(s): the downloaded file is not audio"
        ), name
        assert message.audio_path is None, name
    assert messages["nothing"].status == VoicemailStatus.FAILED
    assert messages["nothing"].status_reason.endswith("the downloaded recording is empty")

    # What looked like audio is kept, and the reason says why it was not transcribed.
    reasons = {
        "mp3 tag, then a web page": "damaged or cut short: the mp3 file could not be decoded",
        "mp3 cut in its header": "damaged or cut short: the mp3 file could not be decoded",
        "0 s wav": "the recording is empty (0 s)",
        "2 hours": "too long to transcribe: 2 h 0 min, over the 10 min limit",
    }
    token = make_token(app)
    for name, reason in reasons.items():
        message = messages[name]
        shown = client.get(f"/api/v1/voicemails/{message.id}", headers=auth(token)).json
        assert (shown["status"], shown["status_reason"]) == ("failed", reason), name
        with client.get(shown["audio_url"], headers=auth(token)) as audio:
            assert audio.status_code == 200 and audio.data == recordings[name], name
