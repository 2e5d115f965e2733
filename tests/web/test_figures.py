"""The figures page and CSV exports: supervisors only, and the numbers match the calls."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from ivr.clock import utcnow
from ivr.database import db
from ivr.day_counts import DayTally
from ivr.models import Agent, Call, EntryState, Outcome, QueueEntry, Role
from ivr.queues.agents import create_agent
from tests.conftest import Twilio
from tests.factories import add_message, auth, call_params, make_token, sign_in
from voicemail.models import Voicemail

pytestmark = pytest.mark.usefixtures("manual_queues")  # stays set by hand


def people(app: Flask) -> None:
    with app.app_context():
        create_agent(db.session, "li", password="correct horse")
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        db.session.commit()


def test_agents_may_not_see_figures_or_exports(app: Flask, client: FlaskClient) -> None:
    people(app)
    sign_in(client, "li")
    for path in ("/figures", "/export/calls.csv", "/export/messages.csv"):
        assert client.get(path).status_code == 403, path


def test_figures_count_the_calls_and_exports_carry_them(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    people(app)
    for n in range(3):
        sid = "CA" + str(n) * 32
        twilio.post("/voice/incoming", call_params(CallSid=sid))
        twilio.post(
            "/voice/status", call_params(CallSid=sid, CallStatus="completed", CallDuration="9")
        )
    add_message(app)
    sign_in(client, "zhang")
    page = client.get("/figures").get_data(as_text=True)
    assert re.search(r'<b id="calls">3</b>', page)
    assert page.count('<rect class="hit"') == 24  # one tooltip an hour on the calls chart
    calls = list(
        csv.reader(
            io.StringIO(
                client.get("/export/calls.csv?header=keys").get_data(as_text=True).lstrip("\ufeff")
            )
        )
    )
    assert calls[0][:3] == ["sid", "from", "to"] and len(calls) == 4
    assert {row[8] for row in calls[1:]} == {"abandoned"}
    messages = client.get("/export/messages.csv").get_data(as_text=True)
    assert "退货 运费 谁 承担" in messages
    assert "Dates must look like" in client.get("/figures?from=soon").get_data(as_text=True)


def test_a_late_rating_or_answer_changes_the_figures_of_a_closed_day(
    app: Flask, client: FlaskClient
) -> None:
    people(app)
    with app.app_context():  # the API's days are UTC days: the page is read in UTC as well
        db.session.scalar(select(Agent).where(Agent.name == "zhang")).timezone = "UTC"  # type: ignore[union-attr]
        db.session.commit()
    day = utcnow().date() - timedelta(days=3)
    start = datetime.combine(day, time.min, UTC)
    with app.app_context():
        # The call starts before midnight; the caller waits in the queue after it.
        call = Call(sid="CA" + "7" * 32, status="completed", outcome=Outcome.AGENT,
                    started_at=start - timedelta(seconds=10))  # fmt: skip
        db.session.add(call)
        db.session.flush()
        db.session.add(QueueEntry(
            call_id=call.id, call_sid=call.sid, queue="product-zh", topic="product",
            language="zh", node="product", state=EntryState.DONE, entered_at=start + timedelta(seconds=5),
            bridged_at=start + timedelta(seconds=15), wait_seconds=10))  # fmt: skip
        db.session.commit()
        call_id = call.id
    ident = add_message(app)
    with app.app_context():
        db.session.get(Voicemail, ident).created_at = start + timedelta(hours=1)  # type: ignore[union-attr]
        db.session.commit()
    token = make_token(app)
    sign_in(client, "zhang")
    period = f"from={day}&to={day}"

    def figures() -> tuple[Any, str]:
        stats = client.get(f"/api/v1/stats?{period}", headers=auth(token)).json["total"]
        page = client.get(f"/figures?{period}").get_data(as_text=True)
        promise = re.search(r'<b id="promise">([^<]*)</b>', page)
        assert promise
        return (stats["answered"], stats["ratings"], stats["average_rating"]), promise.group(1)

    assert figures() == ((1, 0, None), "0%")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DayTally)) == 5  # kept
        db.session.get(Call, call_id).rating = 2  # type: ignore[union-attr]
        db.session.commit()
    assert figures() == ((1, 1, 2.0), "0%")
    with app.app_context():
        message = db.session.get(Voicemail, ident)
        message.answered_at = message.created_at + timedelta(minutes=10)  # type: ignore[union-attr]
        db.session.commit()
    assert figures() == ((1, 1, 2.0), "100%")


def busy_hours(page: str) -> dict[int, int]:
    """The chart's bars that have calls: {hour of the day: calls}."""
    return {
        int(hour): int(n)
        for hour, n in re.findall(r"<title>(\d+):00 · (\d+) calls</title>", page)
        if n != "0"
    }


def test_figures_count_days_and_hours_in_the_readers_time_zone(
    app: Flask, client: FlaskClient
) -> None:
    people(app)
    starts = [
        "2026-11-20 15:30",  # 23:30 on the 20th in Beijing
        "2026-11-20 17:30",  # 01:30 on the 21st
        "2026-11-21 15:30",  # 23:30 on the 21st
        "2026-11-21 16:30",  # 00:30 on the 22nd
        "2026-11-22 16:30",  # 00:30 on the 23rd
    ]
    with app.app_context():
        for n, at in enumerate(starts):
            started = datetime.fromisoformat(at).replace(tzinfo=UTC)
            db.session.add(Call(sid=f"CA{n:032d}", status="completed", started_at=started))
        db.session.commit()
    sign_in(client, "zhang")  # a new supervisor starts in the call centre's zone, China time
    days = "from=2026-11-21&to=2026-11-22"
    for _ in range(2):  # counted (the 21st UTC is kept whole), then partly read from what is kept
        page = client.get(f"/figures?{days}").get_data(as_text=True)
        assert "Days and hours in Asia/Shanghai" in page
        assert re.search(r'<b id="calls">3</b>', page)
        assert busy_hours(page) == {0: 1, 1: 1, 23: 1}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DayTally)) > 0
    calls = client.get(f"/export/calls.csv?{days}").get_data(as_text=True)
    assert [f"CA{n:032d}" in calls for n in range(5)] == [False, True, True, True, False]

    form = client.get("/me").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
    assert token
    client.post("/me", data={"timezone": "UTC", "csrf_token": token.group(1)})
    page = client.get(f"/figures?{days}").get_data(as_text=True)
    assert "Days and hours in UTC" in page
    assert busy_hours(page) == {15: 1, 16: 2}


def test_the_call_centres_time_zone_is_a_setting(app: Flask, client: FlaskClient) -> None:
    app.config["HOTLINE_TIMEZONE"] = "Europe/Berlin"
    people(app)
    sign_in(client, "zhang")
    assert "Days and hours in Europe/Berlin" in client.get("/figures").get_data(as_text=True)


def test_days_at_the_ends_of_the_calendar_are_refused_not_a_500(
    app: Flask, client: FlaskClient
) -> None:
    people(app)
    sign_in(client, "zhang")
    for days in ("from=9999-12-31&to=9999-12-31", "from=0001-01-01&to=0001-01-01"):
        for path in ("/figures", "/export/calls.csv"):
            reply = client.get(f"{path}?{days}")
            assert reply.status_code == 200, (path, days)
    page = client.get("/figures?from=9999-12-31").get_data(as_text=True)
    assert "showing today" in page


def test_hours_are_right_where_the_clock_is_half_an_hour_off_utc(
    app: Flask, client: FlaskClient
) -> None:
    people(app)
    with app.app_context():
        for n, at in enumerate(["2026-11-21 03:20", "2026-11-21 03:40", "2026-11-21 12:10"]):
            started = datetime.fromisoformat(at).replace(tzinfo=UTC)
            db.session.add(Call(sid=f"CA{n:032d}", status="completed", started_at=started))
        zhang = db.session.scalar(select(Agent).where(Agent.name == "zhang"))
        assert zhang is not None
        zhang.timezone = "Asia/Kolkata"  # UTC+5:30
        db.session.commit()
    sign_in(client, "zhang")
    for _ in range(2):  # counted, then partly read from the kept quarter hours
        page = client.get("/figures?from=2026-11-21&to=2026-11-22").get_data(as_text=True)
        assert busy_hours(page) == {8: 1, 9: 1, 17: 1}  # 08:50, 09:10 and 17:40 in India
