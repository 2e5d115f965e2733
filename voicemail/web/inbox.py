"""The agents' voicemail inbox: newest first, the reply promise counting down, one message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale, gettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import Select, func, or_, select
from werkzeug.wrappers import Response

from ivr.api.errors import ApiError
from ivr.audit import RECORDING_LISTEN, audit_recording
from ivr.callflow.orders import order_lookup
from ivr.clock import utcnow
from ivr.database import db, find
from ivr.hotline import hotline
from ivr.models import Agent, Call, CallEvent, Role
from ivr.numbers import number_search, sees_numbers
from ivr.queues.agents import AgentError
from ivr.text import whole_number
from ivr.twilio.urls import external_url
from ivr.web.auth import supervisor_required
from ivr.web.listing import COUNT_CAP, SEARCH_COUNT_CAP, keyset_page, order
from voicemail.alerts import AlertError, alert_channels, send_alert
from voicemail.api import audio_response
from voicemail.call_back_recording import live_call_back
from voicemail.cases import CASE_DIGITS, audit_case_status, reassign_case, set_case_status
from voicemail.models import CaseStatus, ConversationRecording, Note, Voicemail
from voicemail.order_links import OrderFinder
from voicemail.readable import readable_words
from voicemail.search import conversations_holding, holding

bp = Blueprint("inbox", __name__, template_folder="templates", static_folder="static",
               static_url_path="/inbox-static")  # fmt: skip

PAGE = 50
# A partial case number is searched for from this many digits on (fewer match too much).
CASE_SEARCH_DIGITS = 3
LOW_CONFIDENCE = 0.6
NOTE_LIMIT = 2000
STATES = {
    "new": (CaseStatus.RECEIVED,),
    "in_hand": (CaseStatus.IN_PROGRESS,),
    "answered": (CaseStatus.ANSWERED, CaseStatus.RESOLVED),
}
# Newest first; or the reply due soonest first (the promise is the same for every message, so
# that is the oldest first, and on the overdue tab the most overdue first).
ORDERS = (
    order("newest", (Voicemail.created_at, True), (Voicemail.id, True)),
    order("due", (Voicemail.created_at, False), (Voicemail.id, False)),
)


@dataclass(frozen=True)
class Row:
    """A message as the inbox lists it."""

    message: Voicemail
    due: datetime
    seconds_left: int
    preview: str


def promise() -> timedelta:
    """How soon callers were promised an answer."""
    return timedelta(minutes=hotline().menu.reply_promise_minutes)


def filtered(query: Select[tuple[Voicemail]]) -> Select[tuple[Voicemail]]:
    """Apply the inbox filters from the query string."""
    state = request.args.get("state", "")
    if state in STATES:
        query = query.where(Voicemail.case_status.in_(STATES[state]))
    if topic := request.args.get("topic"):
        query = query.where(Voicemail.category == topic[:64])
    if language := request.args.get("language"):
        query = query.where(Voicemail.language == language[:16])
    if call_sid := request.args.get("call"):
        query = query.where(Voicemail.call_sid == call_sid[:64])
    if request.args.get("mine"):
        query = query.where(Voicemail.assigned_agent_id == current_user.id)
    if request.args.get("overdue"):
        query = query.where(
            Voicemail.case_status.in_(STATES["new"] + STATES["in_hand"]),
            Voicemail.created_at < utcnow() - promise(),
        )
    if words := request.args.get("q", "").strip()[:100]:
        holds = holding(db.session, words)
        either = [Voicemail.case_number == words]
        if words.isascii() and words.isdigit() and len(words) >= CASE_SEARCH_DIGITS:
            either.append(Voicemail.case_number.contains(words[:CASE_DIGITS]))
        if holds is not None:
            either.append(holds)
        if (number := number_search(Voicemail.from_number, words, sees_numbers())) is not None:
            either.append(number)
        query = query.where(or_(*either))
    return query


@bp.get("/inbox")
@login_required
def index() -> str:
    """Messages, newest first (the overdue ones most overdue first), each with its countdown to
    the reply promise; a page at a time."""
    now = utcnow()
    default = "due" if request.args.get("overdue") else "newest"
    cap = SEARCH_COUNT_CAP if request.args.get("q", "").strip() else COUNT_CAP
    page = keyset_page(db.session, filtered(select(Voicemail)), ORDERS, request.args, size=PAGE,
                       default=default, count_cap=cap)  # fmt: skip
    rows = []
    for message in page.rows:
        due = message.created_at + promise()
        open_case = message.case_status in STATES["new"] + STATES["in_hand"]
        left = int((due - now).total_seconds()) if open_case else 0
        preview = (message.transcript or "")[:80]
        rows.append(Row(message, due, left, preview))
    topics = sorted({m.category for m in page.rows} | {request.args.get("topic", "")} - {""})
    return render_template("inbox.html", rows=rows, page=page, args=request.args, topics=topics,
                           languages=list(hotline().menu.languages), due_words=due_words,
                           conversations=conversation_hits())  # fmt: skip


@bp.get("/inbox/latest.json")
@login_required
def latest() -> Response:
    """The newest message's id, and how many messages came after ``after`` (the newest one the
    page had seen): the board's and the inbox's notices ask every ten seconds."""
    newest = db.session.scalar(select(func.max(Voicemail.id))) or 0
    after = request.args.get("after", type=int)
    new = 0
    if after is not None and after < newest:
        new = db.session.scalar(select(func.count()).where(Voicemail.id > after)) or 0
    reply = jsonify({"newest": newest, "new": new})
    reply.headers["Cache-Control"] = "no-store"
    return reply


def due_words(seconds_left: int) -> str:
    """How long until the reply is due, or how long overdue: minutes under an hour, then hours,
    then days and hours."""
    minutes = abs(seconds_left) // 60
    days, hours = divmod(minutes // 60, 24)
    if seconds_left >= 0:
        if minutes < 60:
            return gettext("%(n)s min left", n=minutes)
        if not days:
            return gettext("%(h)s h left", h=hours)
        return gettext("%(d)s d %(h)s h left", d=days, h=hours)
    if minutes < 60:
        return gettext("%(n)s min overdue", n=minutes)
    if not days:
        return gettext("%(h)s h overdue", h=hours)
    return gettext("%(d)s d %(h)s h overdue", d=days, h=hours)


@dataclass(frozen=True)
class ConversationHit:
    """A conversation the inbox search found, and where on the call page its words are."""

    recording: ConversationRecording
    url: str
    speaker: str | None
    said: str


def conversation_hits() -> list[ConversationHit]:
    """Conversations holding the searched words: one search finds what was said anywhere."""
    words = request.args.get("q", "").strip()[:100]
    if not words or request.args.get("mine") or request.args.get("state"):
        return []  # cases and their owners are messages' alone
    hits = []
    for recording, turn in conversations_holding(db.session, words, PAGE):
        if (language := request.args.get("language")) and recording.language != language:
            continue
        said = (recording.turns or [])[turn] if turn is not None else None
        anchor = f"turn-{recording.id}-{turn}" if said else f"conversation-{recording.id}"
        url = url_for("board.call", sid=recording.call_sid, _anchor=anchor)
        text = said["text"] if said else (recording.transcript or "")
        hits.append(ConversationHit(recording, url, said["speaker"] if said else None, text[:120]))
    return hits


def order_status_name(status: str) -> str:
    """An order status as the menu names it to callers, in the page's language."""
    menu = hotline().menu
    return menu.name_of(menu.order_statuses, status, str(get_locale().language))


def order_page(number: str) -> str:
    """Where an order said in a message links to: the shop's page for it, or the messages that
    mention it."""
    template = current_app.config.get("ORDER_PAGE_URL") or ""
    if template:
        return template.replace("{number}", quote(number, safe=""))
    return url_for("inbox.index", q=number)


def message_or_404(message_id: int) -> Voicemail:
    """The message with this id, or a 404."""
    message = find(Voicemail, message_id)
    if message is None:
        abort(404)
    return message


@bp.get("/inbox/<int:message_id>")
@login_required
def show(message_id: int) -> str:
    """One message: audio, the transcript that follows it, the caller, the case."""
    message = message_or_404(message_id)
    others = db.session.scalars(
        select(Voicemail)
        .where(Voicemail.from_number == message.from_number, Voicemail.id != message.id)
        .order_by(Voicemail.created_at.desc())
        .limit(20)
    ).all() if message.from_number else []  # fmt: skip
    assigned = (
        db.session.get(Agent, message.assigned_agent_id) if message.assigned_agent_id else None
    )
    notes = db.session.execute(
        select(Note, Agent.name)
        .outerjoin(Agent, Agent.id == Note.agent_id)
        .where(Note.voicemail_id == message.id)
        .order_by(Note.created_at)
    ).all()
    call = db.session.scalar(select(Call).where(Call.sid == message.call_sid))
    timeline = db.session.scalars(
        select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.at, CallEvent.id)
    ).all() if call else []  # fmt: skip
    words = message.words or []
    return render_template(
        "message.html",
        call=call,
        timeline=timeline,
        message=message,
        words=readable_words(words, message.language or ""),
        orders=OrderFinder(order_lookup()).said_in(message.transcript),
        order_status_name=order_status_name,
        order_page=order_page,
        low=LOW_CONFIDENCE,
        due=message.created_at + promise(),
        others=others,
        assigned=assigned,
        notes=notes,
        form=FlaskForm(),
        statuses=list(CaseStatus),
        recording_now=live_call_back(db.session, message),
        others_to_give=_agents_to_give(message),
        can_alert=bool(alert_channels(current_app.config)),
    )


def _agents_to_give(message: Voicemail) -> list[Agent]:
    """Who a supervisor may give the case to: active agents but its owner (none for agents)."""
    if current_user.role != Role.SUPERVISOR:
        return []
    return list(db.session.scalars(
        select(Agent)
        .where(Agent.disabled_at.is_(None), Agent.id != (message.assigned_agent_id or 0))
        .order_by(Agent.name)
    ))  # fmt: skip


@bp.post("/inbox/<int:message_id>/reassign")
@supervisor_required
def reassign(message_id: int) -> Response:
    """Give the case to another agent; whoever had it is told on their inbox and board."""
    message = message_or_404(message_id)
    to = find(Agent, whole_number(request.form.get("agent", "")) or 0)
    if to is None:
        abort(400, "no such agent")
    if to.id == message.assigned_agent_id:
        flash(gettext("Case %(case)s is with %(name)s already.", case=message.case_number,
                      name=to.shown_name))  # fmt: skip
        return redirect(url_for("inbox.show", message_id=message_id))
    url = url_for("inbox.show", message_id=message.id)
    try:
        before = reassign_case(db.session, message, to, by=current_user, url=url)
    except AgentError as exc:
        db.session.rollback()
        flash(gettext("The case was not given: %(reason)s", reason=exc.translated()))
        return redirect(url_for("inbox.show", message_id=message_id))
    db.session.commit()
    if before is not None and before.id != current_user.id:
        flash(gettext("Case %(case)s is now with %(to)s; %(from)s is told.", case=message.case_number,
                      to=to.shown_name, **{"from": before.shown_name}))  # fmt: skip
    else:
        flash(gettext("Case %(case)s is now with %(to)s.", case=message.case_number,
                      to=to.shown_name))  # fmt: skip
    return redirect(url_for("inbox.show", message_id=message_id))


@bp.post("/inbox/<int:message_id>/assign")
@login_required
def assign(message_id: int) -> Response:
    """Take the message: it is in hand, and mine."""
    message = message_or_404(message_id)
    message.assigned_agent_id = current_user.id
    if message.case_status == CaseStatus.RECEIVED:
        audit_case_status(message, CaseStatus.IN_PROGRESS, via="assign")
        message.case_status = CaseStatus.IN_PROGRESS
    db.session.commit()
    return redirect(url_for("inbox.show", message_id=message_id))


@bp.post("/inbox/<int:message_id>/status")
@login_required
def change_status(message_id: int) -> Response:
    """Move the case on (the caller hears the new status by phone)."""
    message = message_or_404(message_id)
    value = request.form.get("status", "")
    if value not in {s.value for s in CaseStatus}:
        abort(400, "unknown status")
    audit_case_status(message, CaseStatus(value), via="page")
    set_case_status(message, CaseStatus(value))
    if message.assigned_agent_id is None:
        message.assigned_agent_id = current_user.id
    db.session.commit()
    return redirect(url_for("inbox.show", message_id=message_id))


@bp.post("/inbox/<int:message_id>/notes")
@login_required
def add_note(message_id: int) -> Response:
    """Keep a note on the message (plain text; shown escaped)."""
    message = message_or_404(message_id)
    body = request.form.get("body", "").strip()
    if "\x00" in body:
        abort(400, "a note cannot hold a NUL character")  # PostgreSQL text cannot store one
    if body:
        db.session.add(
            Note(voicemail_id=message.id, agent_id=current_user.id, body=body[:NOTE_LIMIT])
        )
        db.session.commit()
    return redirect(url_for("inbox.show", message_id=message_id))


def alert_problem(problem: str) -> str:
    """Why an alert was not sent, in the reader's words (``AlertError`` speaks for the logs)."""
    words = []
    if "e-mail" in problem:
        words.append(gettext("the e-mail could not be sent"))
    if "webhook" in problem:
        words.append(gettext("the alert webhook did not take it"))
    return "; ".join(words) or gettext("no alert channel is configured")


@bp.post("/inbox/<int:message_id>/alert")
@login_required
def alert(message_id: int) -> Response:
    """Send an overdue message to a supervisor (e-mail and/or webhook)."""
    message = message_or_404(message_id)
    if not alert_channels(current_app.config):
        # The page shows no button then; a form from before a restart, or a script, hears why.
        flash(gettext("Could not alert a supervisor: %(why)s",
                      why=gettext("no alert channel is configured")))  # fmt: skip
        return redirect(url_for("inbox.show", message_id=message_id))
    url = external_url("inbox.show", message_id=message.id)
    try:
        channels = send_alert(current_app.config, message, url, current_user.name)
    except AlertError as exc:
        flash(gettext("Could not alert a supervisor: %(why)s", why=alert_problem(str(exc))))
    else:
        flash(
            gettext(
                "A supervisor was alerted (%(how)s).",
                how=", ".join(
                    gettext("e-mail") if c == "email" else gettext("webhook") for c in channels
                ),
            )
        )
    return redirect(url_for("inbox.show", message_id=message_id))


@bp.get("/inbox/<int:message_id>/audio")
@login_required
def audio(message_id: int) -> Response:
    """The recording for the page's player (Range requests let it seek)."""
    message = message_or_404(message_id)
    # Audited first: nothing that can fail comes between opening the file and serving it.
    audit_recording(RECORDING_LISTEN, message_id)
    try:
        return audio_response(message)
    except ApiError as exc:
        abort(404, exc.message)
