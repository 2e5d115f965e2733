"""The worker through the real parts: loopback media host, ffmpeg, Vosk, the database."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import vosk
from flask import Flask
from sqlalchemy import select

from app import create_app
from ivr.clock import utcnow
from ivr.database import db
from ivr.twilio.rest import FetchError
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, REPO, Twilio
from tests.factories import (
    CLIP,
    REFERENCE,
    ko_model_path,
    leave_message,
    make_due,
    stored,
    tone_wav,
    use_media_host,
)
from tests.media_server import MediaHost, media_host, recording_url
from tests.speech import speech
from voicemail.accuracy import character_error_rate
from voicemail.audio import telephone_line
from voicemail.models import Voicemail, VoicemailStatus
from voicemail.search import matching
from voicemail.worker import fetch_audio, work, yielding_cpu


def vosk_reachable() -> bool:
    """Whether this machine could reach vosk's model downloads (it resolves their host)."""
    try:
        socket.getaddrinfo(urlsplit(vosk.MODEL_LIST_URL).hostname, 443)
    except OSError:
        return False
    return True


@pytest.fixture
def app_settings(app_settings: dict[str, Any], host: MediaHost) -> dict[str, Any]:
    return use_media_host(app_settings, host)


@pytest.mark.slow
def test_message_is_fetched_kept_and_transcribed(
    app: Flask, twilio: Twilio, host: MediaHost
) -> None:
    phone = telephone_line(speech(CLIP))
    host.not_ready["RE" + "1" * 32] = 3  # not downloadable yet when the callback arrives
    leave_message(twilio, host, phone, "RE" + "1" * 32)
    assert work(app, burst=True) >= 1
    make_due(app)
    work(app, burst=True)
    [message] = stored(app)
    assert message.status == VoicemailStatus.TRANSCRIBED, message.status_reason
    assert message.audio_format == "wav"
    kept = Path(app.config["HOTLINE_DATA_DIR"]) / "recordings" / (message.audio_path or "")
    assert kept.read_bytes() == phone  # the original, as received
    assert character_error_rate(REFERENCE, message.transcript or "") < 0.5
    assert message.model and "model" in message.model
    assert message.transcription_seconds and message.transcription_seconds > 0
    assert message.duration and 6 < message.duration < 8
    words = message.words or []
    assert words and all(0 <= w["start"] <= w["end"] <= message.duration + 0.5 for w in words)
    assert all(0 <= w["conf"] <= 1 for w in words)
    assert message.leased_by is None
    # The transcript is searchable by its words as soon as it is stored.
    word = next(w["word"] for w in words if len(w["word"]) >= 2)
    with app.app_context():
        hits = db.session.scalars(select(Voicemail.id).where(Voicemail.id.in_(matching(word))))  # type: ignore[arg-type]
        assert list(hits) == [message.id]


@pytest.mark.slow
def test_language_without_a_model_waits_untranscribed_until_one_is_there(
    app: Flask, app_settings: dict[str, Any], twilio: Twilio, host: MediaHost
) -> None:
    if vosk_reachable():
        pytest.skip("this machine can download vosk's models: English would be transcribed")
    phone = telephone_line(speech(CLIP))
    leave_message(twilio, host, phone, "RE" + "2" * 32, lang="en")
    work(app, burst=True)  # English: vosk's official small model, not downloadable offline
    [message] = stored(app)
    assert message.status == VoicemailStatus.UNTRANSCRIBED
    assert "vosk-model-small-en-us-0.15" in message.status_reason
    assert "cannot be downloaded" in message.status_reason
    assert "voicemail retry --untranscribed" in message.status_reason
    assert message.audio_path is not None  # still playable

    # A model arrives (here: the Korean one, configured for English) and the message is retried.
    with_model = create_app({**app_settings, "VOSK_MODEL_EN": ko_model_path()})
    retry = with_model.test_cli_runner().invoke(args=["voicemail", "retry", "--untranscribed"])
    assert retry.output.strip() == "1 message(s) queued again"
    again = with_model.test_cli_runner().invoke(args=["voicemail", "retry", "--untranscribed"])
    assert again.output.strip() == "0 message(s) queued again"  # once each
    assert work(with_model, burst=True) == 1
    with with_model.app_context():
        db.engine.dispose()
    [message] = stored(app)
    assert message.status == VoicemailStatus.TRANSCRIBED, message.status_reason
    assert character_error_rate(REFERENCE, message.transcript or "") < 0.5


def test_retry_takes_the_statuses_and_days_asked_for(app: Flask) -> None:
    made = {}
    with app.app_context():
        for n, (status, days_ago) in enumerate(
            [("failed", 0), ("failed", 10), ("untranscribed", 0), ("transcribed", 0)]
        ):
            message = Voicemail(
                call_sid=f"CA{n:032d}", case_number=f"1000000{n}", recording_sid=f"RE{n:032d}",
                recording_url="https://api.twilio.com/r", status=status, attempts=8,
                created_at=utcnow() - timedelta(days=days_ago),
            )  # fmt: skip
            db.session.add(message)
            db.session.flush()
            made[(status, days_ago)] = message.id
        db.session.commit()
    since = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%d")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["voicemail", "retry", "--failed", "--since", since])
    assert result.output.strip() == "1 message(s) queued again"
    result = runner.invoke(args=["voicemail", "retry"])  # both kinds, every day
    assert result.output.strip() == "2 message(s) queued again"
    with app.app_context():
        states = {
            key: (
                db.session.get(Voicemail, ident).status,
                db.session.get(Voicemail, ident).attempts,
            )  # type: ignore[union-attr]
            for key, ident in made.items()
        }
    assert states == {
        ("failed", 0): ("pending", 0),
        ("failed", 10): ("pending", 0),
        ("untranscribed", 0): ("pending", 0),
        ("transcribed", 0): ("transcribed", 8),
    }
    bad = runner.invoke(args=["voicemail", "retry", "--since", "yesterday"])
    assert bad.exit_code == 2 and "yesterday" in bad.output


@pytest.mark.slow  # the worker loads the Korean Vosk model
def test_corrupt_audio_fails_with_a_reason_and_keeps_the_file(
    app: Flask, twilio: Twilio, host: MediaHost
) -> None:
    phone = telephone_line(speech(CLIP))
    leave_message(twilio, host, phone[:44] + b"\x00" * 10, "RE" + "3" * 32)  # header, no speech
    leave_message(twilio, host, phone, "RE" + "4" * 32)
    work(app, burst=True)
    broken, good = stored(app)
    assert broken.status == VoicemailStatus.FAILED
    assert broken.status_reason
    assert broken.audio_path is not None
    assert good.status in {VoicemailStatus.TRANSCRIBED}  # the worker kept going


def test_a_download_that_is_not_audio_is_tried_again(app: Flask, host: MediaHost) -> None:
    ident = "RE" + "6" * 32
    host.files[ident] = tone_wav()
    host.bad_bytes[ident] = 1
    url = recording_url(host, ident)
    with pytest.raises(FetchError, match="not audio") as error:
        fetch_audio(url, app.config)
    assert error.value.retry is True
    assert fetch_audio(url, app.config) == (host.files[ident], "wav")


@pytest.mark.slow  # seconds: three full worker passes over the download
def test_never_audio_gives_up_after_the_attempt_limit(
    app: Flask, twilio: Twilio, host: MediaHost
) -> None:
    leave_message(twilio, host, b"this is not audio at all", "RE" + "5" * 32)
    for _ in range(3):
        make_due(app)
        work(app, burst=True)
    [message] = stored(app)
    assert message.status == VoicemailStatus.FAILED
    assert message.status_reason.startswith("gave up after 3 attempt(s)")
    assert "not audio" in message.status_reason


def worker_env(app_settings: dict[str, Any], host: MediaHost, **extra: str) -> dict[str, str]:
    """The environment of a `flask voicemail work` process for this test's app."""
    return {
        **os.environ,
        "HOTLINE_ENV": "development",  # http to the loopback Twilio; signatures still checked
        "DATABASE_URL": app_settings["SQLALCHEMY_DATABASE_URI"],
        "HOTLINE_DATA_DIR": app_settings["HOTLINE_DATA_DIR"],
        "SECRET_KEY": "x",
        "PUBLIC_BASE_URL": app_settings["PUBLIC_BASE_URL"],
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_BASE_URL": host.base_url,
        "VOSK_MODEL_ZH": ko_model_path(),
        "HOTLINE_WORKER_POLL": "0.05",
        "HOTLINE_WORKER_NICE": "0",  # the suite's other processes would starve a nicer one
        **extra,
    }


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "voicemail", "work"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_until_transcribing(app: Flask) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        [message] = stored(app)
        if message.status == VoicemailStatus.TRANSCRIBING:
            return
        time.sleep(0.02)
    pytest.fail("the worker never claimed the message")


@pytest.mark.slow
@pytest.mark.gunicorn
@pytest.mark.speech  # a worker process transcribing real speech; leases on PostgreSQL: quick tests
def test_worker_stopped_with_sigterm_finishes_its_message_first(
    app: Flask, app_settings: dict[str, Any], twilio: Twilio, host: MediaHost
) -> None:
    phone = telephone_line(speech("zeroth_104_003_0280.flac"))
    leave_message(twilio, host, phone, "RE" + "8" * 32)
    worker = start_worker(worker_env(app_settings, host))
    try:
        wait_until_transcribing(app)
        worker.send_signal(signal.SIGTERM)  # as a deploy or `systemctl stop` does
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    [message] = stored(app)
    assert message.status == VoicemailStatus.TRANSCRIBED and message.transcript
    assert message.attempts == 1 and message.leased_by is None


@pytest.mark.slow
@pytest.mark.gunicorn
@pytest.mark.speech  # a worker process transcribing real speech; leases on PostgreSQL: quick tests
def test_worker_killed_mid_job_leaves_it_to_another_exactly_once(
    app: Flask, app_settings: dict[str, Any], twilio: Twilio, host: MediaHost
) -> None:
    phone = telephone_line(speech("zeroth_104_003_0280.flac"))
    leave_message(twilio, host, phone, "RE" + "6" * 32)
    env = worker_env(app_settings, host, HOTLINE_WORKER_LEASE="2")
    worker = start_worker(env)
    try:
        wait_until_transcribing(app)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    [message] = stored(app)
    assert message.status == VoicemailStatus.TRANSCRIBING  # died holding the lease
    assert message.transcript is None
    work(app, burst=True)  # waits for the dead worker's lease to expire, then takes over
    [message] = stored(app)
    assert message.status == VoicemailStatus.TRANSCRIBED
    assert message.attempts == 2
    assert message.transcript


@pytest.fixture
def deleting(app_settings: dict[str, Any]) -> dict[str, Any]:
    app_settings["HOTLINE_DELETE_FROM_TWILIO"] = True
    return app_settings


@pytest.mark.slow  # the worker loads the Korean Vosk model
def test_recording_is_deleted_at_twilio_once_kept(
    deleting: dict, app: Flask, twilio: Twilio, host: MediaHost
) -> None:

    leave_message(twilio, host, tone_wav(2.0), "RE" + "7" * 32)
    work(app, burst=True)
    [message] = stored(app)
    assert message.audio_path is not None
    assert host.deleted == [f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{'RE' + '7' * 32}.json"]


API_KEY = ("SK" + "4" * 32, "api-key-secret")


@pytest.fixture
def key_host() -> Iterator[MediaHost]:
    with media_host(*API_KEY) as served:
        yield served


@pytest.fixture
def with_api_key(app_settings: dict[str, Any], key_host: MediaHost) -> dict[str, Any]:
    app_settings.update(
        TWILIO_API_KEY_SID=API_KEY[0],
        TWILIO_API_KEY_SECRET=API_KEY[1],
        TWILIO_API_BASE_URL=key_host.base_url,
        HOTLINE_ENV="development",
    )
    return app_settings


@pytest.mark.slow  # the worker loads the Korean Vosk model
def test_downloads_with_an_api_key_when_configured(
    with_api_key: dict, app: Flask, twilio: Twilio, key_host: MediaHost
) -> None:

    leave_message(twilio, key_host, tone_wav(2.0), "RE" + "8" * 32)
    work(app, burst=True)
    [message] = stored(app)
    assert message.audio_path is not None, message.status_reason
    assert [status for _, status in key_host.hits] == [200]


def test_the_worker_names_menu_languages_without_a_model_as_it_starts(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    app.config["VOSK_MODEL_EN"] = "off"  # Chinese has the Korean model here (see app_settings)
    with caplog.at_level(logging.WARNING, logger="voicemail.worker"):
        work(app, burst=True)
    [warning] = [r.getMessage() for r in caplog.records if "no speech model" in r.getMessage()]
    assert "menu language 'en'" in warning
    assert "voicemail retry --untranscribed" in warning


@pytest.mark.slow
@pytest.mark.gunicorn
def test_message_whose_workers_keep_dying_ends_failed(
    app: Flask,
    app_settings: dict[str, Any],
    twilio: Twilio,
    host: MediaHost,
    caplog: pytest.LogCaptureFixture,
) -> None:
    phone = telephone_line(speech("zeroth_104_003_0280.flac"))
    leave_message(twilio, host, phone, "RE" + "9" * 32)
    env = worker_env(app_settings, host, HOTLINE_WORKER_LEASE="1", HOTLINE_WORKER_MAX_ATTEMPTS="2")
    app.config["HOTLINE_WORKER_MAX_ATTEMPTS"] = 2
    for kills in range(1, 3):  # as out of memory would, every time it holds the message
        worker = start_worker(env)
        try:
            deadline = time.monotonic() + 60
            while (message := stored(app)[0]).attempts < kills or (
                message.status != VoicemailStatus.TRANSCRIBING
            ):
                assert time.monotonic() < deadline, "the worker never claimed the message"
                time.sleep(0.02)
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
        finally:
            if worker.poll() is None:
                worker.kill()
    assert work(app, burst=True) == 0  # the dead worker's lease expires: given up, not claimed
    [message] = stored(app)
    assert (message.status, message.attempts, message.leased_by) == (
        VoicemailStatus.FAILED, 2, None,
    )  # fmt: skip
    assert message.status_reason == (
        "gave up after 2 attempt(s): the worker stopped while transcribing this message "
        "(killed, out of memory or crashed)"
    )
    warned = [r for r in caplog.records if r.levelname == "WARNING" and "stopped" in r.message]
    assert len(warned) == 1


def test_the_worker_thread_yields_the_cores_to_webhooks_and_its_ffmpeg_too() -> None:
    seen: dict[str, int] = {}

    def transcribe() -> None:
        me = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, me)
        with yielding_cpu(10):
            seen["inside"] = os.getpriority(os.PRIO_PROCESS, me) - before
            child = [sys.executable, "-c", "import os; print(os.getpriority(os.PRIO_PROCESS, 0))"]
            seen["child"] = int(subprocess.run(child, capture_output=True, text=True).stdout)
            seen["child"] -= before
        seen["after"] = os.getpriority(os.PRIO_PROCESS, me) - before

    process_before = os.getpriority(os.PRIO_PROCESS, 0)
    worker = threading.Thread(target=transcribe)
    worker.start()
    worker.join()
    # Raising it back takes privilege (a burst run by a test, or `voicemail work --burst`).
    assert seen == {"inside": 10, "child": 10, "after": 0 if os.geteuid() == 0 else 10}
    assert os.getpriority(os.PRIO_PROCESS, 0) == process_before  # the web threads are untouched
