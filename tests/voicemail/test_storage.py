"""Where recordings are kept: the shared database for many machines, and a store that fails."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.database import db
from tests.conftest import Twilio
from tests.factories import (
    CLIP,
    REFERENCE,
    auth,
    leave_message,
    make_due,
    make_token,
    stored,
    tone_wav,
    use_media_host,
)
from tests.media_server import MediaHost
from tests.speech import speech
from voicemail.accuracy import character_error_rate
from voicemail.audio import telephone_line
from voicemail.models import Voicemail, VoicemailAudio, VoicemailStatus
from voicemail.worker import work

UNFINISHED = (VoicemailStatus.PENDING, VoicemailStatus.TRANSCRIBING)


@pytest.fixture
def worker_settings(app_settings: dict[str, Any], host: MediaHost) -> dict[str, Any]:
    """The worker's settings, applied before the app is made."""
    return use_media_host(app_settings, host)


@pytest.fixture
def in_database(worker_settings: dict[str, Any]) -> dict[str, Any]:
    worker_settings["HOTLINE_AUDIO_STORE"] = "database"
    return worker_settings


@pytest.mark.slow
def test_recordings_kept_in_the_database_are_transcribed_and_played(
    in_database: dict[str, Any],
    app: Flask,
    client: FlaskClient,
    twilio: Twilio,
    host: MediaHost,
) -> None:
    phone = telephone_line(speech(CLIP))
    leave_message(twilio, host, phone, "RE" + "1" * 32)
    work(app, burst=True)
    [message] = stored(app)
    assert message.status == VoicemailStatus.TRANSCRIBED, message.status_reason
    assert character_error_rate(REFERENCE, message.transcript or "") < 0.5
    # Nothing in this machine's data folder: another machine's web process can play it.
    assert not (Path(in_database["HOTLINE_DATA_DIR"]) / "recordings").exists()
    with app.app_context():
        row = db.session.scalars(select(VoicemailAudio)).one()
        assert row.size == len(phone) and len(row.data) <= len(phone)
    token = make_token(app)
    audio = client.get(f"/api/v1/voicemails/{message.id}/audio", headers=auth(token))
    assert audio.status_code == 200 and audio.data == phone  # as received
    assert audio.headers["Cache-Control"] == "private, no-store"
    part = client.get(
        f"/api/v1/voicemails/{message.id}/audio", headers={**auth(token), "Range": "bytes=44-99"}
    )
    assert part.status_code == 206 and part.data == phone[44:100]


@pytest.fixture
def full_disk(worker_settings: dict[str, Any]) -> Iterator[Path]:
    """The recordings folder on a 64 KiB file system, as a disk that fills up."""
    recordings = Path(worker_settings["HOTLINE_DATA_DIR"]) / "recordings"
    recordings.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(recordings)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.decode().strip()}")
    try:
        yield recordings
    finally:
        subprocess.run(["umount", "-l", str(recordings)], check=False)


@pytest.mark.slow  # the worker loads the Korean Vosk model
def test_a_full_disk_keeps_the_message_until_there_is_room(
    full_disk: Path,
    app: Flask,
    twilio: Twilio,
    host: MediaHost,
) -> None:

    audio = tone_wav(6.0)  # 96 KB: more than the disk holds
    leave_message(twilio, host, audio, "RE" + "2" * 32)
    stop = threading.Event()
    worker = threading.Thread(target=work, args=(app,), kwargs={"stop": stop})
    worker.start()
    try:
        # More failed attempts than the limit (3 here): the message is not to blame, so it waits.
        message = wait_for(
            app,
            lambda m: m.attempts >= 4 and m.status == VoicemailStatus.PENDING,
            timeout=60,
            skip_backoff=True,
        )
        assert message.status == VoicemailStatus.PENDING
        assert "No space left on device" in message.status_reason
        assert message.audio_path is None
        assert list(full_disk.rglob("*")) == [full_disk / "00000"]  # no half-written parts
        subprocess.run(["umount", "-l", str(full_disk)], check=True)  # room again
        make_due(app)
        message = wait_for(app, lambda m: m.status not in UNFINISHED, timeout=60)
    finally:
        stop.set()
        worker.join(30)
    assert message.audio_path is not None
    assert (full_disk / message.audio_path).read_bytes() == audio
    assert len(stored(app)) == 1  # the same message, taken up again: not lost, not doubled


def wait_for(
    app: Flask, done: Callable[[Voicemail], bool], *, timeout: float, skip_backoff: bool = False
) -> Voicemail:
    """The one stored message, once ``done`` holds for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if skip_backoff:
            make_due(app)
        [message] = stored(app)
        if done(message):
            return message
        time.sleep(0.05)
    pytest.fail(f"timed out; the message is {stored(app)[0].status}")
