"""Tallies of closed days: the same figures as counting the period at once, after late changes too."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, insert, select, update

from app import create_app
from ivr.clock import utcnow
from ivr.database import db
from ivr.day_counts import DayTally, Tally, added_up, midnight, settled_days, tallied
from ivr.models import Call, EntryState, Outcome, QueueEntry
from ivr.queues.per_hour import STAYS as STAYS_BY
from ivr.queues.stats import RATINGS, STAYS
from tests.conftest import settings
from tests.factories import auth, make_token
from voicemail.models import Voicemail
from voicemail.web.figures import CALLS, HOUR, QUARTER, count_messages, message_figures

DAY = timedelta(days=1)
MICRO = timedelta(microseconds=1)
DEFAULT_MENU = Path(__file__).parents[2] / "ivr" / "callflow" / "menu.yaml"

pytestmark = pytest.mark.usefixtures("manual_queues")  # stays set by hand


@pytest.mark.nodb
def test_only_whole_days_over_an_hour_ago_are_tallied() -> None:
    def at(day: int, *clock: int) -> datetime:
        return datetime(2026, 11, day, *clock, tzinfo=UTC)

    def days(since: datetime, until: datetime, now: datetime | None = None) -> Any:
        found = settled_days(since, until, now or at(24, 10))
        return (found[0].day, found[1].day) if found else None

    assert days(at(1), datetime.combine(date(2026, 11, 30), time.max, UTC)) == (1, 23)
    assert days(at(1), at(30), now=at(24, 0, 59)) == (1, 22)
    assert days(at(1), at(30), now=at(24, 1)) == (1, 23)
    assert days(at(1, 0, 0, 1), at(20, 12)) == (2, 19)
    assert days(at(10), at(11)) == (10, 10)
    assert days(at(10), at(11) - timedelta(microseconds=2)) is None
    assert days(at(10, 0, 0, 1), at(11)) is None
    shanghai = timezone(timedelta(hours=8))
    assert days(datetime(2026, 11, 10, tzinfo=shanghai), at(12)) == (10, 11)
    latest = date(2026, 11, 23)
    assert settled_days(
        datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC), at(24, 1)
    ) == (latest - 91 * DAY, latest)
    assert days(datetime.max.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)) is None


@pytest.mark.nodb
def test_rows_with_the_same_key_are_added_up() -> None:
    rows = [("a", None, 1, 10), ("b", 2, 1, 3), ["a", None, 2, 5]]
    assert added_up(rows, 2) == [("a", None, 3, 15), ("b", 2, 1, 3)]
    assert added_up([(1, 2), [3, 4]], 0) == [(4, 6)]


def add_history(app: Flask, seed: int = 5) -> None:
    """Calls, queue stays and messages over the last ten days (a few long ago), some at midnight."""
    rng = random.Random(seed)
    now = utcnow()
    with app.app_context():
        for n in range(150):
            day = now.date() - DAY * (rng.randrange(10) if n % 10 else rng.randrange(100, 130))
            at = min(now, midnight(day) + rng.choice([
                timedelta(0), DAY - MICRO, timedelta(seconds=rng.uniform(0, 86400))]))  # fmt: skip
            call = Call(sid=f"CA{n:032d}", status="completed", started_at=at,
                        outcome=rng.choice([None, *Outcome]), rating=rng.choice([None, 1, 4, 5]))  # fmt: skip
            db.session.add(call)
            db.session.flush()
            if rng.random() < 0.7:
                entered = at + timedelta(seconds=rng.randrange(60))
                answered = rng.random() < 0.6
                wait = rng.randrange(40)
                state = (
                    EntryState.DONE
                    if answered
                    else rng.choice([EntryState.ABANDONED, EntryState.LEFT])
                )
                db.session.add(QueueEntry(
                    call_id=call.id, call_sid=call.sid, queue=rng.choice(["product-zh", "payment-en"]),
                    topic="product", language="zh", node="product", state=state, entered_at=entered,
                    leave_reason=None if answered else rng.choice([None, "message", "timeout", "callback"]),
                    bridged_at=entered + timedelta(seconds=wait) if answered else None,
                    wait_seconds=wait if answered or rng.random() < 0.5 else None))  # fmt: skip
            if rng.random() < 0.6:
                created = at + timedelta(seconds=rng.randrange(300))
                delay = rng.choice([None, timedelta(minutes=14), timedelta(minutes=15),
                                    timedelta(minutes=15) + MICRO, timedelta(hours=3)])  # fmt: skip
                db.session.add(Voicemail(
                    call_id=call.id, call_sid=call.sid, case_number=f"{n:08d}",
                    recording_sid=f"RE{n:032d}", recording_url="https://api.twilio.com/x",
                    created_at=created, answered_at=created + delay if delay else None))  # fmt: skip
        db.session.commit()


def periods() -> list[tuple[datetime, datetime]]:
    """Whole days, parts of days, other time zones, closed days only, one day, months."""
    today = utcnow().date()
    shanghai = timezone(timedelta(hours=8))
    return [
        (midnight(today - 9 * DAY), datetime.combine(today - DAY, time.max, UTC)),
        (midnight(today - 7 * DAY) + timedelta(hours=13, microseconds=5), utcnow()),
        (datetime.combine(today - 6 * DAY, time.min, shanghai), midnight(today - 2 * DAY)),
        (midnight(today - 8 * DAY), midnight(today - 3 * DAY) - MICRO),
        (midnight(today - 4 * DAY), midnight(today - 3 * DAY) - MICRO),
        (midnight(today - 140 * DAY), utcnow()),
    ]


def at_once(app: Flask) -> list[Any]:
    """Every tally of every period as counted now, and as counted at once (must be equal)."""
    tallies = [CALLS[HOUR], CALLS[QUARTER], STAYS, RATINGS, STAYS_BY[HOUR], STAYS_BY[QUARTER]]
    with app.app_context():
        promise = timedelta(minutes=app.extensions["hotline"].menu.reply_promise_minutes)
        found, counted = [], []
        for since, until in periods():
            for tally in tallies:
                found.append(Counter(tallied(db.session, tally, since, until)))
                counted.append(Counter(tuple(r) for r in tally.count(db.session, since, until)))
            found.append(message_figures(since, until))
            [(messages, answered, in_time)] = count_messages(promise, db.session, since, until)
            counted.append({"messages": messages, "answered": answered,
                            "answered_in_time": in_time,
                            "share_in_time": round(in_time / messages, 3) if messages else None})  # fmt: skip
        return [found, counted]


def of_day(model: Any, column: Any, day: datetime) -> list[Any]:
    """The rows of ``model`` whose ``column`` falls on ``day``."""
    return list(db.session.scalars(select(model).where(column >= day, column < day + DAY)))


def late_rating(day: datetime) -> None:
    for call in of_day(Call, Call.started_at, day):
        call.rating = 2 if call.rating is None else None


def call_ended_after_midnight(day: datetime) -> None:
    # As the status callback writes it: one UPDATE statement.
    ended = update(Call).where(Call.started_at >= day, Call.started_at < day + DAY)
    db.session.execute(ended.values(outcome=Outcome.AGENT))


def late_answer(day: datetime) -> None:
    for message in of_day(Voicemail, Voicemail.created_at, day):
        message.answered_at = message.created_at + timedelta(minutes=15)


def answer_again(day: datetime) -> None:
    for message in of_day(Voicemail, Voicemail.created_at, day):
        message.answered_at = day + 2 * DAY


def stays_answered(day: datetime) -> None:
    for entry in of_day(QueueEntry, QueueEntry.entered_at, day):
        entry.state, entry.bridged_at, entry.wait_seconds = EntryState.DONE, day + DAY, 7


def stays_moved_and_deleted(day: datetime) -> None:
    for entry in of_day(QueueEntry, QueueEntry.entered_at, day - DAY):
        entry.entered_at = day + timedelta(hours=5)
    db.session.execute(delete(QueueEntry).where(QueueEntry.entered_at < day - DAY))


def stay_added(day: datetime) -> None:
    db.session.execute(insert(QueueEntry).values(
        call_id=db.session.scalar(select(func.min(Call.id))), call_sid="CA", queue="late-zh",
        topic="late", language="zh", node="late", state=EntryState.DONE,
        entered_at=day + timedelta(hours=1), bridged_at=day + timedelta(hours=1, seconds=9),
        wait_seconds=9))  # fmt: skip


def calls_moved_and_deleted(day: datetime) -> None:
    for call in of_day(Call, Call.started_at, day):
        call.started_at -= 2 * DAY
    answered = select(QueueEntry.call_id).where(QueueEntry.bridged_at.is_not(None))
    db.session.execute(delete(Call).where(Call.id == answered.limit(1).scalar_subquery()))


def messages_deleted(day: datetime) -> None:
    db.session.execute(delete(Voicemail).where(Voicemail.created_at < day))


def test_tallies_count_as_the_period_at_once_after_late_changes(app: Flask) -> None:
    add_history(app)
    found, counted = at_once(app)
    assert found == counted
    with app.app_context():
        kept = db.session.scalars(select(DayTally.tally)).all()
        names = {CALLS[HOUR].name, CALLS[QUARTER].name, STAYS.name, RATINGS.name,
                 STAYS_BY[HOUR].name, STAYS_BY[QUARTER].name}  # fmt: skip
        assert names | {"messages-in-900s-1"} <= set(kept)
    late_changes = [late_rating, call_ended_after_midnight, late_answer, answer_again,
                    stays_answered, stays_moved_and_deleted, stay_added, calls_moved_and_deleted,
                    messages_deleted]  # fmt: skip
    for late in late_changes:
        before = found
        with app.app_context():
            late(midnight(utcnow().date() - 4 * DAY))  # a closed day
            db.session.commit()
        found, counted = at_once(app)
        assert found == counted, late.__name__
        assert found != before, late.__name__


def test_a_new_reply_promise_counts_the_messages_again(
    app: Flask, app_settings: dict[str, Any], tmp_path: Path
) -> None:
    add_history(app)
    raw = yaml.safe_load(DEFAULT_MENU.read_text(encoding="utf-8"))
    raw["reply_promise_minutes"] = 5
    menu = tmp_path / "menu.yaml"
    menu.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    second = create_app(
        settings(
            tmp_path / "data2", app_settings["SQLALCHEMY_DATABASE_URI"], HOTLINE_MENU=str(menu)
        )
    )
    try:
        for one in (app, second, app):
            found, counted = at_once(one)
            assert found == counted
    finally:
        with second.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_kept_day_is_read_not_counted(app: Flask) -> None:
    add_history(app)
    today = utcnow().date()
    since, until = midnight(today - 5 * DAY), midnight(today - 4 * DAY) - MICRO
    hourly = CALLS[HOUR]
    calls = Tally(hourly.name, hourly.keys, hourly.count)
    with app.app_context():
        first = tallied(db.session, calls, since, until)
        assert first
        forgetful = Tally(hourly.name, hourly.keys, lambda *_: [])
        assert tallied(db.session, forgetful, since, until) == first
        assert tallied(db.session, forgetful, since, until + MICRO) == first
        assert tallied(db.session, forgetful, since - MICRO, until) == first


def test_the_api_answers_for_any_period(app: Flask, client: FlaskClient) -> None:
    add_history(app)
    token = make_token(app)
    for period in ("from=0001-01-01&to=9999-12-31", "from=9999-12-31", "to=0001-01-01T00:00:00Z"):
        reply = client.get(f"/api/v1/stats?{period}", headers=auth(token))
        assert reply.status_code in (200, 400), period
    everything = client.get("/api/v1/stats?from=0001-01-01&to=9999-12-31", headers=auth(token))
    with app.app_context():
        stays = db.session.scalar(select(func.count()).select_from(QueueEntry))
    assert everything.json["total"]["offered"] == stays > 0
