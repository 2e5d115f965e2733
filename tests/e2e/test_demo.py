"""`flask demo`: a fresh data folder gets a day that every page shows; a second run refuses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from ivr.clock import local_day
from ivr.database import db
from ivr.models import Call, EntryState, Outcome, QueueEntry
from voicemail.models import ConversationRecording, Voicemail, VoicemailStatus

SIGN_IN = re.compile(r"^\s+demo\s+(\S+)\s+supervisor$", re.MULTILINE)
PER_HOUR = re.compile(r"<title>(\d+):00 · (\d+) calls</title>")


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    # The demo is for trying the service: it refuses a production configuration.
    app_settings["HOTLINE_ENV"] = "development"
    # Served over plain http here: the session cookie must not be https-only for the pages.
    app_settings["PUBLIC_BASE_URL"] = "http://hotline.example.com"
    # A call centre where it is early afternoon now, whenever the test runs: the demo's day has
    # hours behind it that the figures of "today" can show.
    app_settings["HOTLINE_TIMEZONE"] = afternoon_zone(datetime.now(UTC))
    return app_settings


def afternoon_zone(now: datetime) -> str:
    """A fixed-offset IANA zone where ``now`` is between 14:00 and 15:00."""
    offset = (14 - now.hour) % 24
    offset = offset - 24 if offset > 14 else offset
    # The Etc zones count the other way round: Etc/GMT-8 is eight hours ahead of UTC.
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"


@pytest.fixture
def browser_session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        session.headers["Accept-Language"] = "en"
        yield session


def sign_in(session: requests.Session, base: str, name: str, password: str) -> None:
    form = session.get(f"{base}/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
    assert token is not None
    reply = session.post(f"{base}/login", data={"name": name, "password": password,
                                               "csrf_token": token.group(1)})  # fmt: skip
    assert reply.ok and "/login" not in reply.url, reply.text[:500]


@pytest.mark.slow
def test_demo_fills_every_page_once(
    app: Flask, live_server: str, browser_session: requests.Session
) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "--calls", "24", "--seed", "3"])
    assert result.exit_code == 0, result.output
    password = SIGN_IN.search(result.output)
    assert password is not None, result.output
    with app.app_context():
        calls = db.session.scalars(select(Call)).all()
        messages = db.session.scalars(select(Voicemail)).all()
        talks = db.session.scalars(select(ConversationRecording)).all()
        zone = ZoneInfo(app.config["HOTLINE_TIMEZONE"])
        since, until = local_day(datetime.now(UTC).astimezone(zone).date(), zone)
        waiting_callbacks = db.session.scalar(
            select(func.count()).where(QueueEntry.state == EntryState.CALLBACK)
        )
        today = db.session.scalar(
            select(func.count()).where(Call.started_at >= since, Call.started_at < until)
        )
    assert len(calls) == 24
    outcomes = {call.outcome for call in calls}
    assert {Outcome.AGENT, Outcome.SELF_SERVICE} <= outcomes
    assert any(call.rating for call in calls)
    # Spread over hours, not all "now"; none in the future.
    assert len({call.started_at.replace(minute=0, second=0, microsecond=0) for call in calls}) >= 4
    assert max(call.ended_at or call.started_at for call in calls) < datetime.now(UTC)
    assert messages and all(m.status == VoicemailStatus.TRANSCRIBED for m in messages)
    assert all(m.transcript for m in messages)
    # Conversations with agents are recorded and read back by speaker.
    heard = [t for t in talks if t.status == VoicemailStatus.TRANSCRIBED]
    # (Under load a caller may hang up before Twilio starts recording, or say nothing in time.)
    assert len(heard) * 2 > len(talks), [(t.status, t.status_reason) for t in talks]
    assert any({turn["speaker"] for turn in t.turns or []} == {"customer", "agent"} for t in heard)

    web = browser_session
    sign_in(web, live_server, "demo", password.group(1))
    inbox = web.get(f"{live_server}/inbox").text
    for message in messages:
        assert message.case_number in inbox
    assert (message.transcript or "")[:20] in inbox
    board = web.get(f"{live_server}/board").text
    signed_in = [int(n) for n in re.findall(r'class="signed">(\d+)<', board)]
    assert len(signed_in) == 8 and all(n > 0 for n in signed_in)  # 4 topics x 2 languages
    callbacks = sum(int(n) for n in re.findall(r'class="callbacks">(\d+)<', board))
    assert callbacks == waiting_callbacks
    call_log = web.get(f"{live_server}/calls").text
    assert sum(call.sid in call_log for call in calls) >= 20
    figures = web.get(f"{live_server}/figures").text
    assert re.search(r'<b id="calls">(\d+)</b>', figures).group(1) == str(today)  # type: ignore[union-attr]
    hours = [int(n) for _, n in PER_HOUR.findall(figures)]
    assert sum(hours) == today and sum(n > 0 for n in hours) >= min(4, today)

    again = app.test_cli_runner().invoke(args=["demo", "--calls", "5"])
    assert again.exit_code != 0
    assert "already holds 24 calls" in again.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Call)) == 24

    more = app.test_cli_runner().invoke(args=["demo", "--calls", "3", "--force"])
    assert more.exit_code == 0, more.output
    with app.app_context():
        after = {c.sid: c.started_at for c in db.session.scalars(select(Call))}
    assert len(after) == 27
    assert all(after[call.sid] == call.started_at for call in calls)  # the first day stays put


def test_demo_refuses_production(app: Flask) -> None:
    app.config["HOTLINE_ENV"] = "production"
    result = app.test_cli_runner().invoke(args=["demo", "--calls", "5"])
    assert result.exit_code != 0
    assert "HOTLINE_ENV=development" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Call)) == 0
