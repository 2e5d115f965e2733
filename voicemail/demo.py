"""``flask demo``: a fresh data folder filled with a realistic day, played through the simulator.

The app is served on a loopback port in this process and the offline Twilio calls it over HTTP:
callers go through the menus, wait in queues that scripted agents take them from, rate their
calls, ask to be called back and leave messages of real speech, which are then transcribed.
Calls run on a shared clock that makes a simulated second a few real milliseconds; afterwards
each call is moved, with everything it left behind, to a time of today's working hours, so that
the figures have the shape of a day.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from sqlalchemy import func, select
from werkzeug.serving import WSGIRequestHandler, make_server

from ivr.callflow.orders import import_orders
from ivr.clock import utcnow
from ivr.database import db
from ivr.models import Agent, Call, Presence, Role
from ivr.queues.agents import create_agent, set_presence
from ivr.simulator import Agent as ScriptedAgent
from ivr.simulator import (
    Caller,
    CallHandle,
    HttpTransport,
    RecordingServer,
    Simulator,
    Utterance,
)
from ivr.simulator.media import truncate_wav
from voicemail.demo_day import (
    AGENT_SAYS_AT,
    SPEECH,
    TALK_SECONDS,
    TIME_SCALE,
    TOPIC_KEYS,
    CallMix,
    speech_clips,
    spread_over_the_day,
    work_the_inbox,
    working_window,
)
from voicemail.models import Voicemail
from voicemail.transcription import packaged_model_path
from voicemail.worker import stop_embedded_worker, work

# Simulated seconds between callers on average: the agents are busy about half the time.
ARRIVAL_SECONDS = 8.0
# Calls in progress at most, for two cores.
AT_ONCE = 60
DEFAULT_CALLS = 300
ORDER_STATUSES = ["pending", "shipped", "in_transit", "out_for_delivery", "delivered", "cancelled",
                  "returned"]  # fmt: skip
CARRIERS = ["SF Express", "JD Logistics", "ZTO", "YTO", "China Post"]


@dataclass(frozen=True)
class StaffMember:
    """A demo agent: account, languages, topics, and how long they talk (simulated seconds)."""

    name: str
    phone: str
    languages: tuple[str, ...]
    topics: tuple[str, ...]
    talk_seconds: float
    role: Role = Role.AGENT


STAFF = (
    StaffMember("demo", "+8613900000100", ("zh", "en"), ("general",), 90.0, Role.SUPERVISOR),
    StaffMember("li", "+8613900000101", ("zh",), ("product", "general"), 55.0),
    StaffMember("wang", "+8613900000102", ("zh",), ("after_sales", "payment", "general"), 70.0),
    StaffMember("zhao", "+8613900000103", ("zh",), ("product", "after_sales"), 60.0),
    StaffMember("liu", "+8613900000104", ("zh",), tuple(TOPIC_KEYS), 50.0),
    StaffMember("chen", "+8613900000105", ("zh", "en"), ("payment", "product", "general"), 55.0),
    StaffMember("sun", "+8613900000106", ("zh",), ("product", "payment", "general"), 60.0),
    StaffMember("emma", "+8613900000107", ("en",), tuple(TOPIC_KEYS), 65.0),
    StaffMember("james", "+8613900000108", ("en", "zh"), ("product", "after_sales"), 70.0),
)


class DemoError(Exception):
    """The demo cannot run here; the message says why."""


@dataclass
class DemoReport:
    """What the demo made, for the summary it prints."""

    calls: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)
    sign_ins: list[tuple[str, str, str]] = field(default_factory=list)
    window: tuple[datetime, datetime] | None = None
    notes: list[str] = field(default_factory=list)


# -- running it -----------------------------------------------------------------------------


class QuietHandler(WSGIRequestHandler):
    """Serves the demo's thousands of requests without a log line each."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """The app over HTTP on a free loopback port, as ``tests/conftest.py`` serves it."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="demo-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def prepare(app: Flask, report: DemoReport, force: bool) -> None:
    """Check the data folder is fresh; the schema, the accounts and the orders."""
    config = app.config
    if config["HOTLINE_ENV"] == "production":
        raise DemoError(
            "the demo fills the database with made-up calls: run it with HOTLINE_ENV=development "
            "on a data folder of its own (./hotline.sh demo does)"
        )
    upgrade()
    calls = db.session.scalar(select(func.count()).select_from(Call)) or 0
    if calls and not force:
        raise DemoError(
            f"the database already holds {calls} calls; the demo only fills a fresh data folder "
            "(set HOTLINE_DATA_DIR to an empty folder, or pass --force to add a day anyway)"
        )
    for member in STAFF:
        existing = db.session.scalar(select(Agent).where(Agent.name == member.name))
        if existing is not None:
            report.sign_ins.append((member.name, "(unchanged)", member.role))
            continue
        password = secrets.token_urlsafe(9)
        agent = create_agent(db.session, member.name, password=password, role=member.role,
                             phone=member.phone, languages=list(member.languages),
                             topics=list(member.topics))  # fmt: skip
        set_presence(agent, Presence.AWAY if member.role == Role.SUPERVISOR else Presence.AVAILABLE)
        report.sign_ins.append((member.name, password, member.role))
    db.session.commit()


def make_orders(rng: random.Random, count: int = 60) -> list[dict[str, str]]:
    """Orders the shop exported: numbers, statuses, carriers, expected delivery."""
    today = utcnow().date()
    rows = []
    for _ in range(count):
        status = rng.choice(ORDER_STATUSES)
        eta = (today + timedelta(days=rng.randrange(0, 5))).isoformat()
        rows.append({"order_number": str(rng.randrange(10**7, 10**8)), "status": status,
                     "carrier": rng.choice(CARRIERS) if status != "pending" else "",
                     "eta": eta if status in ("shipped", "in_transit", "out_for_delivery") else ""})  # fmt: skip
    return rows


def choose_model(app: Flask, report: DemoReport) -> None:
    """Messages are Korean speech: the packaged Korean model reads them if none is configured."""
    config = app.config
    if any(config.get(key) for key in ("VOSK_MODEL", "VOSK_MODEL_ZH", "VOSK_MODEL_EN")):
        return
    korean = packaged_model_path("ko")
    if korean is not None:
        config["VOSK_MODEL"] = str(korean)
        report.notes.append(
            "the messages hold Korean speech (the Zeroth-Korean clips): for this run they are "
            "transcribed with the packaged Korean model (VOSK_MODEL); your settings are unchanged"
        )


def play_the_day(
    app: Flask,
    calls: int,
    seed: int = 2026,
    *,
    force: bool = False,
    echo: Callable[[str], None] = click.echo,
) -> DemoReport:
    """Fill the app's fresh database with a day of ``calls`` calls; what it made."""
    report = DemoReport()
    rng = random.Random(seed)
    config = app.config
    with app.app_context():
        prepare(app, report, force=force)
        # With --force, the calls and messages already there stay as they are.
        last_call = db.session.scalar(select(func.max(Call.id))) or 0
        last_message = db.session.scalar(select(func.max(Voicemail.id))) or 0
        orders = make_orders(rng)
        import_orders(db.session, orders)
        db.session.commit()
    choose_model(app, report)
    clips = speech_clips()
    if not SPEECH.is_dir():
        report.notes.append(f"no speech clips in {SPEECH}: messages are tones")
    # Twilio is the simulator: its REST API and recordings on loopback, with the account's own
    # SID and token on both sides (none configured in development: the simulator's own).
    account_sid = config.get("TWILIO_ACCOUNT_SID") or "AC" + "0" * 32
    auth_token = config.get("TWILIO_AUTH_TOKEN") or ""
    api_keys = {}
    if config.get("TWILIO_API_KEY_SID") and config.get("TWILIO_API_KEY_SECRET"):
        api_keys[config["TWILIO_API_KEY_SID"]] = config["TWILIO_API_KEY_SECRET"]
    media = RecordingServer(account_sid, auth_token, api_keys=api_keys)
    config.update(
        TWILIO_API_BASE_URL=media.base_url,
        TWILIO_ACCOUNT_SID=account_sid,
        # Wrap-up passes on the simulator's clock, not the wall's.
        HOTLINE_WRAPUP_SECONDS=float(config["HOTLINE_WRAPUP_SECONDS"]) * TIME_SCALE,
    )
    started = time.monotonic()
    try:
        with served(app) as url:
            config["PUBLIC_BASE_URL"] = config.get("PUBLIC_BASE_URL") or url
            simulator = Simulator(
                HttpTransport(url),
                public_base_url=config["PUBLIC_BASE_URL"],
                auth_token=auth_token,
                account_sid=account_sid,
                api_keys=api_keys,
                fallback_path="/voice/fallback",
                recording_server=media,
                time_scale=TIME_SCALE,
            )
            with simulator:
                # The agents are available: the hotline rings their phones for each caller.
                for n, member in enumerate(STAFF):
                    # Each greets their callers with a clip of speech (the callers answer).
                    simulator.add_agent(ScriptedAgent(member.phone, answer_after=4.0,
                                                      talk_seconds=member.talk_seconds,
                                                      says=[Utterance(truncate_wav(clips[n % len(clips)], TALK_SECONDS), at=AGENT_SAYS_AT)]))  # fmt: skip
                mix = CallMix(rng, [o["order_number"] for o in orders], clips,
                              lambda: case_numbers(app))  # fmt: skip
                # The day's last few callers ask to be called back after the agents went home:
                # the board opens on their requests.
                late = calls // 100
                place_calls(simulator, (mix.caller() for _ in range(calls - late)), rng, echo)
                simulator.wait_idle(timeout=120)
                off_the_phones(app)
                place_calls(simulator, (mix.caller("callback") for _ in range(late)), rng, echo)
                simulator.wait_idle(timeout=120)
        echo(f"demo: {calls} calls played in {time.monotonic() - started:.0f} s; transcribing…")
        stop_embedded_worker(app)
        transcribe_all(app)
    finally:
        media.close()
    with app.app_context():
        now = utcnow()
        window = working_window(now, ZoneInfo(config["HOTLINE_TIMEZONE"]))
        spread_over_the_day(rng, window, now, after=last_call)
        work_the_inbox(rng, now, after=last_message)
        db.session.commit()
        report.window = window
        report.calls = db.session.scalar(select(func.count()).select_from(Call)) or 0
        report.outcomes = dict(
            db.session.execute(select(Call.outcome, func.count()).group_by(Call.outcome)).all()  # type: ignore[arg-type]
        )
        report.messages = dict(
            db.session.execute(
                select(Voicemail.status, func.count()).group_by(Voicemail.status)
            ).all()  # type: ignore[arg-type]
        )
    return report


def off_the_phones(app: Flask) -> None:
    """The agents go to their end-of-day meeting: signed in (callers may still queue and ask to
    be called back) but busy, so nobody is rung."""
    with app.app_context():
        for agent in db.session.scalars(select(Agent).where(Agent.role == Role.AGENT)):
            set_presence(agent, Presence.BUSY)
        db.session.commit()


def transcribe_all(app: Flask, workers: int = 2) -> None:
    """Drain the messages with two workers, as two worker processes would."""
    threads = [threading.Thread(target=work, args=(app,), kwargs={"burst": True})
               for _ in range(workers)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def case_numbers(app: Flask) -> list[str]:
    """Case numbers of the messages left so far (callers ask about them later)."""
    with app.app_context():
        return list(db.session.scalars(select(Voicemail.case_number).limit(200)))


def place_calls(
    simulator: Simulator,
    callers: Iterator[Caller],
    rng: random.Random,
    echo: Callable[[str], None],
) -> None:
    """Place the calls as they come: one every ``ARRIVAL_SECONDS`` (simulated) on average.

    Callers are made as they call, so later ones can ask about the cases of earlier ones.
    """
    running: list[CallHandle] = []
    for placed, caller in enumerate(callers, start=1):
        while len(running) >= AT_ONCE:
            time.sleep(0.02)
            running = [h for h in running if not h.done]
        running.append(simulator.start(caller))
        if placed % 50 == 0:
            echo(f"demo: {placed} calls placed")
        time.sleep(rng.expovariate(1 / ARRIVAL_SECONDS) * TIME_SCALE)
        running = [h for h in running if not h.done]
    for handle in running:
        handle.result(timeout=120)


@click.command("demo")
@click.option("--calls", default=DEFAULT_CALLS, show_default=True, type=click.IntRange(1, 5000),
              help="How many calls the day has.")  # fmt: skip
@click.option("--seed", default=2026, show_default=True, help="Seed of the day's call mix.")
@click.option("--force", is_flag=True, help="Add a day even if the database holds calls.")
@with_appcontext
def demo_command(calls: int, seed: int, force: bool) -> None:
    """Fill a fresh data folder with a realistic day of calls, queues and messages."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        report = play_the_day(app, calls, seed, force=force)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    for note in report.notes:
        click.echo(f"demo: {note}")
    click.echo(f"demo: {report.calls} calls: " + ", ".join(
        f"{count} {outcome or 'in progress'}" for outcome, count in sorted(
            report.outcomes.items(), key=lambda kv: -kv[1])))  # fmt: skip
    click.echo("demo: messages: " + ", ".join(f"{n} {s}" for s, n in report.messages.items()))
    if report.window:
        zone = ZoneInfo(app.config["HOTLINE_TIMEZONE"])
        first, last = (t.astimezone(zone).strftime("%H:%M") for t in report.window)
        click.echo(f"demo: calls spread from {first} to {last} ({zone.key})")
    click.echo("Sign in at /login (./hotline.sh start serves http://127.0.0.1:8000):")
    for name, password, role in report.sign_ins:
        click.echo(f"  {name:<6} {password:<14} {role}")
