"""The supervisors' figures page (calls, queues and messages together) and the messages CSV."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import cache, partial
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, render_template
from sqlalchemy import ColumnElement, Float, and_, case, func, or_, select
from sqlalchemy.orm import Session

from ivr.clock import iso
from ivr.database import db
from ivr.day_counts import Counting, Tally, tallied
from ivr.hotline import hotline
from ivr.models import Call
from ivr.numbers import shown_number
from ivr.queues.per_hour import HOUR, QUARTER, stays_per_hour, steps_since_epoch
from ivr.queues.stats import period_stats
from ivr.web.auth import supervisor_required
from ivr.web.exports import csv_response
from ivr.web.figure_charts import calls_chart, service_chart, waits_chart
from ivr.web.periods import period
from voicemail.models import Voicemail
from voicemail.retention import Retention, last_sweep

bp = Blueprint("figures", __name__, template_folder="templates")


def answered_within(promise: timedelta, dialect: str) -> ColumnElement[bool]:
    """SQL: the message was answered at most ``promise`` after it was left, to the microsecond."""
    if dialect != "sqlite":
        return Voicemail.answered_at - Voicemail.created_at <= promise
    # SQLite keeps a UTCDateTime as text, 'YYYY-MM-DD HH:MM:SS.ffffff'. julianday() is cheap but
    # rounds to milliseconds, so it only settles the messages answered clearly (a second) early
    # or late. For the others the deadline is made as text, on the whole seconds (datetime()
    # would round a fraction too) with the microseconds put back on, and compared as text,
    # which orders as the times do.
    created, answered = Voicemail.created_at, Voicemail.answered_at
    seconds = int(promise.total_seconds())
    taken = (func.julianday(answered, type_=Float) - func.julianday(created, type_=Float)) * 86400
    deadline = func.datetime(func.substr(created, 1, 19), f"+{seconds} seconds").concat(
        func.substr(created, 20)
    )
    return and_(taken < seconds + 1, or_(taken < seconds - 1, answered <= deadline))


def count_messages(
    promise: timedelta, session: Session, since: datetime, until: datetime
) -> Iterable[Sequence[Any]]:
    """Messages left in the period, how many were answered, and how many within ``promise``."""
    # Counted by the database from an index holding both times: the answered messages' times
    # read into Python took 50 ms for a month.
    in_time = answered_within(promise, session.get_bind().dialect.name)
    return session.execute(
        select(
            func.count(), func.count(Voicemail.answered_at), func.count(case((in_time, 1)))
        ).where(Voicemail.created_at >= since, Voicemail.created_at <= until)
    )


def message_figures(since: datetime, until: datetime) -> dict[str, object]:
    """Messages left in the period and how many were answered within the promise."""
    promise = timedelta(minutes=hotline().menu.reply_promise_minutes)
    # The day's count depends on the promise, so it is kept under its own name.
    tally = Tally(
        f"messages-in-{promise.total_seconds():.0f}s-1", 0, partial(count_messages, promise)
    )
    [(messages, answered, answered_in_time)] = tallied(db.session, tally, since, until)
    return {
        "messages": messages,
        "answered": answered,
        "answered_in_time": answered_in_time,
        "share_in_time": round(answered_in_time / messages, 3) if messages else None,
    }


def calls_by(step: int) -> Counting:
    """A tally query: calls started in a period by ``step``-second slice and outcome."""

    def count(session: Session, since: datetime, until: datetime) -> Iterable[Sequence[Any]]:
        # Counted by the database: a month of calls as ORM objects took most of a second. By
        # the slice of the timeline, not the hour of a day, so each reader's zone can place them.
        at = steps_since_epoch(Call.started_at, session.get_bind().dialect.name, step)
        return session.execute(
            select(at, Call.outcome, func.count())
            .where(Call.started_at >= since, Call.started_at <= until)
            .group_by(at, Call.outcome)
        )

    return count


# Whole hours place calls for most of the world. India, Nepal or Adelaide are 30 or 45 minutes off
# a whole hour: their readers' hours are made of the timeline's quarter hours.
CALLS = {HOUR: Tally("calls-by-hour-2", 2, calls_by(HOUR)),
         QUARTER: Tally("calls-by-quarter-hour-1", 2, calls_by(QUARTER))}  # fmt: skip


def slice_for(zone: ZoneInfo, since: datetime, until: datetime) -> int:
    """The slice of the timeline fine enough for ``zone``'s hours over the period."""
    offsets = {moment.astimezone(zone).utcoffset() for moment in (since, until)}
    whole = all(
        offset is not None and offset % timedelta(hours=1) == timedelta(0) for offset in offsets
    )
    return HOUR if whole else QUARTER


def local_hour(slice_: int, step: int, zone: ZoneInfo) -> int:
    """The hour of the day, in ``zone``, that slice ``slice_`` (of ``step`` seconds) begins in."""
    return datetime.fromtimestamp(slice_ * step, zone).hour


@bp.get("/figures")
@supervisor_required
def figures() -> str:
    """Calls, queues and messages for a period, with charts of calls, waits and service by hour."""
    chosen = period()
    since, until = chosen.since, chosen.until
    per_hour: dict[str, list[int]] = {kind: [0] * 24 for kind in ("agent", "abandoned", "other")}
    outcomes: Counter[str] = Counter()
    step = slice_for(chosen.zone, since, until)
    hour_of = cache(partial(local_hour, step=step, zone=chosen.zone))
    for at, outcome, n in tallied(db.session, CALLS[step], since, until):
        kind = outcome if outcome in ("agent", "abandoned") else "other"
        per_hour[kind][hour_of(at)] += n
        outcomes[str(outcome or "in progress")] += n
    target = float(current_app.config["HOTLINE_ANSWER_TARGET"])
    hours = stays_per_hour(db.session, since, until, step, hour_of, target)
    return render_template(
        "figures.html",
        period=chosen,
        calls=sum(outcomes.values()),
        calls_chart=calls_chart(per_hour["agent"], per_hour["abandoned"], per_hour["other"]),
        waits_chart=waits_chart(hours),
        service_chart=service_chart(
            hours, target, float(current_app.config["HOTLINE_SERVICE_GOAL"])
        ),
        goal=current_app.config["HOTLINE_SERVICE_GOAL"],
        outcomes=sorted(outcomes.items()),
        queues=period_stats(db.session, since, until, target),
        messages=message_figures(since, until),
        retention=Retention.from_config(current_app.config),
        sweep=last_sweep(db.session),
    )


@bp.get("/export/messages.csv")
@supervisor_required
def export_messages() -> Response:
    """The period's voice messages as CSV (with transcripts)."""
    chosen = period()
    messages = db.session.scalars(
        select(Voicemail)
        .where(Voicemail.created_at >= chosen.since, Voicemail.created_at <= chosen.until)
        .order_by(Voicemail.created_at)
    ).all()
    header = ["id", "case_number", "call_sid", "from", "category", "language", "created_at",
              "case_status", "answered_at", "status", "transcript"]  # fmt: skip
    rows = [[m.id, m.case_number, m.call_sid, shown_number(m.from_number), m.category, m.language,
             iso(m.created_at), m.case_status, iso(m.answered_at), m.status, m.transcript or ""]
            for m in messages]  # fmt: skip
    return csv_response("messages.csv", header, rows)
