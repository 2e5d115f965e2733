"""Agent pages on the call side: the live board (queues, presence, take next), the call log and
its CSV export."""

from __future__ import annotations

from datetime import date

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    get_template_attribute,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import false, or_, select
from werkzeug.wrappers import Response

from ivr.clock import iso, local_day, utcnow
from ivr.database import db
from ivr.hotline import hotline
from ivr.models import Agent, Call, CallEvent, Outcome, Presence, QueueEntry
from ivr.numbers import number_search, sees_numbers, shown_number
from ivr.queues.agent_history import presences_now
from ivr.queues.agents import AgentError, choose_presence
from ivr.queues.distribution import distribute_now
from ivr.queues.entries import take_next
from ivr.queues.recording import records
from ivr.queues.screen_pop import ScreenPop, board_state, screen_pop
from ivr.queues.stats import queues_now
from ivr.queues.wrapups import wrapup_cells, wrapups_by_call
from ivr.twilio.rest import TwilioError
from ivr.twilio.urls import external_url
from ivr.web.auth import supervisor_required
from ivr.web.exports import csv_response
from ivr.web.i18n import localtime, reader_zone
from ivr.web.labels import label, path_words, queue_label
from ivr.web.listing import COUNT_CAP, SEARCH_COUNT_CAP, keyset_page, order
from ivr.web.periods import period

bp = Blueprint("board", __name__)
CALLS_PAGE = 100
CALL_ORDERS = (
    order("newest", (Call.started_at, True), (Call.id, True)),
    order("oldest", (Call.started_at, False), (Call.id, False)),
)
# What the screen pop says of an order number the lookup did not find a status for.
LOOKUP_RESULTS = {"not_found": _l("not found"), "failed": _l("lookup failed")}


@bp.get("/board")
@login_required
def board() -> str:
    """Queues now, my presence, the take-next button, and every agent's presence."""
    now = utcnow()
    agents = _agents()
    menu = hotline().menu
    return render_template("board.html", queues=queues_now(db.session, menu, now),
                           presences=list(Presence), agents=agents, now=now,
                           presence_of=presences_now(db.session, agents, now),
                           transfer_queues=[n for n in menu.nodes.values() if n.type == "queue"],
                           recorded=any(records(menu, node) for node in menu.nodes),
                           transfer_agents=[a for a in agents if a.id != current_user.id])  # fmt: skip


def _agents() -> list[Agent]:
    return list(
        db.session.scalars(select(Agent).where(Agent.disabled_at.is_(None)).order_by(Agent.name))
    )


@bp.get("/board.json")
@login_required
def board_json() -> Response:
    """The board's figures and each agent's presence, for the page to refresh itself."""
    now = utcnow()
    agents = _agents()
    shown = get_template_attribute("_presence.html", "presence_for")
    presence_of = presences_now(db.session, agents, now)
    return jsonify({
        "queues": queues_now(db.session, hotline().menu, now),
        "presence": current_user.presence,
        "agents": [{"name": a.name, "presence": presence_of[a.id].presence,
                    "reason": presence_of[a.id].reason,
                    "text": Markup(shown(presence_of[a.id], now)).striptags()} for a in agents],
    })  # fmt: skip


@bp.get("/board/live.json")
@login_required
def live() -> Response:
    """What my board must show now; polled every second, 304 while nothing changed."""
    now = utcnow()
    # The agent itself, not the proxy: the state reads its fields for every entry.
    state = board_state(db.session, current_user._get_current_object(), hotline().menu, now)
    language = str(get_locale().language)
    # The pop's names and times are in the reader's language and time zone.
    version = f"{state.version}-{language}-{reader_zone().key}"
    if request.if_none_match.contains(version):
        reply = Response(status=304)
    else:
        pop = None
        entry = db.session.get(QueueEntry, state.entry_id) if state.entry_id else None
        if entry is not None:
            pop = shown(screen_pop(db.session, entry, hotline().menu, language,
                                   hotline().caller_links))  # fmt: skip
        reply = jsonify({"queues": state.queues, "presence": state.presence,
                         "presence_at": state.presence_at, "wrapup_until": state.wrapup_until,
                         "pop": pop})  # fmt: skip
    reply.set_etag(version)
    reply.headers["Cache-Control"] = "no-cache, private"
    # The page counts waits from the server's clock, not from the browser's.
    reply.headers["X-Server-Time"] = f"{now.timestamp():.3f}"
    return reply


def shown(pop: ScreenPop) -> dict[str, object]:
    """The screen pop with the words and times the page shows, in the reader's language."""
    data = pop.as_json()
    data["number"] = shown_number(pop.number)
    data["call_url"] = url_for("board.call", sid=pop.call_sid)
    data["path"] = path_words(pop.path)
    data["orders"] = [
        {"number": o.number, "status": o.status or str(LOOKUP_RESULTS.get(o.result, o.result))}
        for o in pop.orders
    ]
    data["earlier"] = [
        {"url": url_for("board.call", sid=c.sid), "when": localtime(c.started_at),
         "outcome": str(label("outcome", c.outcome)) if c.outcome else "",
         "rating": c.rating}
        for c in pop.earlier
    ]  # fmt: skip
    data["links"] = [{"label": text, "url": url} for text, url in pop.links]
    return data


@bp.post("/board/presence")
@login_required
def presence() -> Response:
    """Switch my presence."""
    value = request.form.get("presence", "")
    if value in {p.value for p in Presence}:
        choose_presence(current_user, Presence(value))
        db.session.commit()
        distribute_now()
    return redirect(url_for("board.board"))


@bp.post("/board/take-next")
@login_required
def take() -> Response:
    """Call me and connect me to the caller who has waited longest."""
    try:
        offer = take_next(db.session, current_user, current_app.config, external_url)
    except AgentError as exc:
        flash(exc.translated())
        return redirect(url_for("board.board"))
    except TwilioError:
        flash(gettext("Twilio could not ring your phone. Try again in a moment."))
        return redirect(url_for("board.board"))
    if offer is None:
        flash(gettext("Nobody is waiting for you."))
    else:
        text = (
            "Callback from %(queue)s, waited %(n)s s: your phone rings now."
            if offer.callback
            else "Caller from %(queue)s, waited %(n)s s: your phone rings now."
        )
        flash(gettext(text, queue=queue_label(offer.queue), n=offer.waited))
    return redirect(url_for("board.board"))


@bp.get("/calls")
@login_required
def calls() -> str:
    """The call log, a page at a time: newest (or oldest) first, by date, number, topic and
    outcome."""
    query = select(Call)
    if sid := request.args.get("caller_of", "").strip()[:64]:
        # "Other calls from this number" by a call's sid: the number never shows in the URL.
        query = query.where(
            Call.from_number.in_(
                select(Call.from_number).where(Call.sid == sid, Call.from_number != "")
            )
        )
    if number := request.args.get("number", "").strip()[:64]:
        whole = sees_numbers()
        either = [
            number_search(column, number, whole) for column in (Call.from_number, Call.to_number)
        ]
        query = query.where(or_(*[found for found in either if found is not None], false()))
    if (outcome := request.args.get("outcome")) and outcome in {o.value for o in Outcome}:
        query = query.where(Call.outcome == outcome)
    if agent := request.args.get("agent", "").strip()[:64]:
        served = select(QueueEntry.call_id).join(Agent, Agent.id == QueueEntry.agent_id)
        query = query.where(Call.id.in_(served.where(Agent.name == agent)))
    if topic := request.args.get("topic", "").strip()[:64]:
        query = query.where(Call.menu_path.contains(topic, autoescape=True))
    if day := request.args.get("date", "")[:10]:
        try:
            start, end = local_day(date.fromisoformat(day), reader_zone())
        except ValueError:
            flash(gettext("The date must look like 2026-11-24."))
        else:
            query = query.where(Call.started_at >= start, Call.started_at < end)
    searched = any(request.args.get(name, "").strip() for name in ("number", "topic", "agent"))
    cap = SEARCH_COUNT_CAP if searched else COUNT_CAP
    page = keyset_page(db.session, query, CALL_ORDERS, request.args, size=CALLS_PAGE, count_cap=cap)
    return render_template("calls.html", calls=page.rows, page=page, args=request.args,
                           outcomes=list(Outcome))  # fmt: skip


@bp.get("/calls/<sid>")
@login_required
def call(sid: str) -> str:
    """One call's timeline: menu path, keys, queue wait, agent, rating, messages."""
    found = db.session.scalar(select(Call).where(Call.sid == sid[:64]))
    if found is None:
        abort(404)
    events = db.session.scalars(
        select(CallEvent).where(CallEvent.call_id == found.id).order_by(CallEvent.at, CallEvent.id)
    ).all()
    entries = db.session.scalars(select(QueueEntry).where(QueueEntry.call_id == found.id)).all()
    return render_template("call.html", call=found, events=events, entries=entries)


@bp.get("/export/calls.csv")
@supervisor_required
def export_calls() -> Response:
    """The period's calls as CSV."""
    chosen = period()
    calls = db.session.scalars(
        select(Call)
        .where(Call.started_at >= chosen.since, Call.started_at <= chosen.until)
        .order_by(Call.started_at)
    ).all()
    header = ["sid", "from", "to", "started_at", "ended_at", "duration", "language", "menu_path",
              "outcome", "rating", "disposition", "wrapup_note", "wrapup_agent"]  # fmt: skip
    wrapups = wrapups_by_call(db.session, [c.id for c in calls])
    rows = [[c.sid, shown_number(c.from_number), c.to_number, iso(c.started_at), iso(c.ended_at), c.duration,
             c.language, " > ".join(c.path), c.outcome, c.rating, *wrapup_cells(wrapups.get(c.id))]
            for c in calls]  # fmt: skip
    return csv_response("calls.csv", header, rows)
