"""The transcription bench's messages: clips, a database, messages left and checked, stage times."""

from __future__ import annotations

import csv
import ipaddress
import logging
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from ivr.callflow.call_log import CallFacts, open_call
from ivr.database import db
from ivr.simulator.media import RecordingServer
from ivr.twilio.rest import download_recording
from voicemail.accuracy import character_error_rate
from voicemail.audio import PcmAudio, decode, telephone_line
from voicemail.models import Voicemail, VoicemailStatus
from voicemail.recording import store_recording

ACCOUNT_SID = "AC" + "b" * 32


AUTH_TOKEN = "bench-auth-token-0123456789abcdef"


LOOPBACK_NAMES = {"localhost", ""}


@dataclass(frozen=True)
class Clip:
    """One clip as a phone line delivers it, and decoded as the worker decodes it."""

    name: str
    reference: str
    phone: bytes = field(repr=False)
    audio: PcmAudio = field(repr=False)


@dataclass
class WorkerCheck:
    """What the database holds after a worker run."""

    messages: int
    transcribed: int
    single_attempt: int
    duration_seconds: float
    recognise_seconds: float
    cer: list[float]  # per message, raw transcript against the clip's reference
    problems: list[str]


def load_clips(folder: Path) -> list[Clip]:
    """The manifest's clips through a phone line, and decoded as the worker does."""
    with (folder / "manifest.tsv").open(encoding="utf-8") as manifest:
        rows = list(csv.DictReader(manifest, delimiter="\t"))
    clips = []
    for row in rows:
        phone = telephone_line((folder / row["file"]).read_bytes())
        clips.append(Clip(row["file"], row["reference_text"], phone, decode(phone)))
    return clips


def check_loopback_database(url: str) -> None:
    """Refuse any database that is not on this machine, and the one named ``test``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return
    host = parsed.host or ""
    if host not in LOOPBACK_NAMES:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise SystemExit(f"refusing database host {host!r}: loopback only")
    name = parsed.database or ""
    if name == "test" or not name.startswith("bench"):
        raise SystemExit(
            f"refusing database {name!r}: the benchmark wipes its database, "
            "so its name must start with 'bench'"
        )


def fresh_postgres(url: str) -> None:
    """Create the database if missing and empty its schema."""
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
        )
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    engine = create_engine(parsed)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def app_settings(
    database: str, data_dir: Path, base_url: str, model: str, audio_store: str
) -> dict[str, Any]:
    """The service's settings for one configuration; everything it talks to is on loopback."""
    return {
        "HOTLINE_ENV": "development",  # http to the loopback Twilio; signatures still checked
        "HOTLINE_DATA_DIR": str(data_dir),
        "SQLALCHEMY_DATABASE_URI": database,
        "SECRET_KEY": "bench-secret",
        "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_KEY_SID": "",
        "TWILIO_API_KEY_SECRET": "",
        "TWILIO_API_BASE_URL": base_url,
        "HOTLINE_WORKER": "off",
        "HOTLINE_WORKER_POLL": 0.1,
        "HOTLINE_DELETE_FROM_TWILIO": False,
        "HOTLINE_AUDIO_STORE": audio_store,
        "HOTLINE_SUPERVISOR_EMAIL": "",
        "HOTLINE_SMTP_HOST": "",
        "HOTLINE_ALERT_WEBHOOK": "",
        "ORDER_LOOKUP_URL": "",
        "VOSK_MODEL": "",
        # The hotline's messages are taken in language "zh"; the Korean model serves them here.
        "VOSK_MODEL_ZH": model,
    }


@contextmanager
def prepared_app(settings: dict[str, Any]) -> Iterator[Flask]:
    """The app on a freshly migrated database."""
    from app import MIGRATIONS, create_app

    database = settings["SQLALCHEMY_DATABASE_URI"]
    if make_url(database).get_backend_name() == "postgresql":
        fresh_postgres(database)
    app = create_app(settings)
    logging.getLogger().setLevel(logging.WARNING)
    # Alembic's env.py sets its loggers to INFO; the table is what this command prints.
    logging.disable(logging.INFO)
    try:
        with app.app_context():
            upgrade(directory=str(MIGRATIONS))
    finally:
        logging.disable(logging.NOTSET)
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def leave_messages(
    app: Flask, server: RecordingServer, clips: list[Clip], repeat: int
) -> dict[str, Clip]:
    """One pending message per recording, stored as the recording callback stores it.

    Returns the clip behind each recording URL.
    """
    made: dict[str, Clip] = {}
    with app.app_context():
        session = db.session
        for round_ in range(repeat):
            for clip in clips:
                sid = "RE" + uuid.uuid4().hex
                url = server.store(sid, clip.phone)
                facts = CallFacts(
                    sid="CA" + uuid.uuid4().hex,
                    account_sid=ACCOUNT_SID,
                    from_number=f"+8210{round_:04d}{len(made):04d}",
                    to_number="+15550100",
                    caller_name="",
                    direction="inbound",
                    status="in-progress",
                )
                call = open_call(session, facts)
                session.flush()
                _message, created = store_recording(
                    session,
                    call,
                    recording_sid=sid,
                    recording_url=url,
                    duration=round(clip.audio.seconds),
                    category="general",
                    language="zh",
                )
                if not created:
                    raise RuntimeError(f"recording {sid} was already stored")
                session.commit()
                made[url] = clip
        db.session.remove()
        db.engine.dispose()
    return made


def check_messages(app: Flask, clip_of: dict[str, Clip]) -> WorkerCheck:
    """Every message transcribed exactly once; recognition time and accuracy from the rows."""
    problems: list[str] = []
    rates: list[float] = []
    with app.app_context():
        rows = list(db.session.scalars(select(Voicemail).order_by(Voicemail.id)))
        transcribed = [r for r in rows if r.status == VoicemailStatus.TRANSCRIBED]
        single = [r for r in transcribed if r.attempts == 1]
        for row in rows:
            if row.status != VoicemailStatus.TRANSCRIBED:
                problems.append(f"message {row.id}: {row.status} ({row.status_reason})")
            elif row.attempts != 1:
                problems.append(f"message {row.id}: {row.attempts} attempts")
            clip = clip_of[row.recording_url]
            rates.append(character_error_rate(clip.reference, row.raw_transcript or ""))
        check = WorkerCheck(
            messages=len(rows),
            transcribed=len(transcribed),
            single_attempt=len(single),
            duration_seconds=sum(r.duration or 0.0 for r in transcribed),
            recognise_seconds=sum(r.transcription_seconds or 0.0 for r in transcribed),
            cer=rates,
            problems=problems,
        )
        db.session.remove()
    return check


@dataclass
class Stages:
    """Median seconds per message of the worker's steps besides recognition, timed alone."""

    fetch: float
    decode: float


def time_stages(server: RecordingServer, clips: list[Clip], rounds: int = 3) -> Stages:
    """Fetch each recording from the loopback server and decode it, as the worker does."""
    fetches: list[float] = []
    decodes: list[float] = []
    urls = [server.store("RE" + uuid.uuid4().hex, clip.phone) for clip in clips]
    # The loopback server stands in for Twilio's API, as in development mode.
    config = {"TWILIO_API_BASE_URL": server.base_url, "HOTLINE_ENV": "development"}
    for _ in range(rounds):
        for url in urls:
            started = time.perf_counter()
            data = download_recording(
                url, config=config, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN
            )
            fetched = time.perf_counter()
            decode(data)
            fetches.append(fetched - started)
            decodes.append(time.perf_counter() - fetched)
    return Stages(statistics.median(fetches), statistics.median(decodes))
