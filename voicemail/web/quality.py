"""The quality page: checked conversations and messages, worst first, the matched words marked.

Supervisors see everything, filtered by tag, agent, kind and day; an agent sees only the
conversations they held.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import Blueprint, flash, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import Select, select

from ivr.clock import local_day
from ivr.database import db
from ivr.models import Agent, Role
from ivr.numbers import shown_number
from ivr.web.i18n import reader_zone
from ivr.web.listing import keyset_page, order
from voicemail.models import ConversationRecording, QualityCheck, QualityTag, Voicemail
from voicemail.quality import highlighted
from voicemail.quality_checks import CONVERSATION, MESSAGE, current_rules

bp = Blueprint("quality", __name__, template_folder="templates", static_folder="static",
               static_url_path="/quality-static")  # fmt: skip

# The shipped rules' tags, by name in the reader's language; others are shown as they are.
TAG_NAMES = {
    "complaint": _l("complaint"),
    "legal": _l("legal threat"),
    "media": _l("media threat"),
    "no_greeting": _l("no greeting"),
    "no_closing": _l("no closing"),
    "forbidden_phrase": _l("forbidden phrase"),
}
SPEAKERS = {"customer": _l("Customer"), "agent": _l("Agent")}
PAGE = 25
CONTEXT = 40  # characters shown either side of a match
ORDERS = (
    order("worst", (QualityCheck.score, False), (QualityCheck.at, True), (QualityCheck.id, True)),
    order("newest", (QualityCheck.at, True), (QualityCheck.id, True)),
)


@dataclass(frozen=True)
class Excerpt:
    """A stretch of what was said, cut into plain and marked pieces."""

    speaker: str | None  # "customer", "agent", or None in a message
    pieces: list[tuple[str, str | None]]


@dataclass
class Row:
    """A check as the page lists it."""

    check: QualityCheck
    link: str
    title: str
    agent: str | None
    missing: list[str] = field(default_factory=list)
    excerpts: list[Excerpt] = field(default_factory=list)


def in_context(text: str, matches: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """``text`` with its matches marked, long plain stretches between them cut to CONTEXT
    characters either side."""
    pieces = highlighted(text, matches)
    shown: list[tuple[str, str | None]] = []
    for index, (piece, kind) in enumerate(pieces):
        if kind is None and len(piece) > 2 * CONTEXT + 1:
            first, last = index == 0, index == len(pieces) - 1
            if first:
                piece = "…" + piece[-CONTEXT:]
            elif last:
                piece = piece[:CONTEXT] + "…"
            else:
                piece = piece[:CONTEXT] + " … " + piece[-CONTEXT:]
        shown.append((piece, kind))
    return shown


def is_supervisor() -> bool:
    return current_user.role == Role.SUPERVISOR


def checks_query() -> tuple[Select[tuple[QualityCheck]], dict[str, str]]:
    """The checks the reader may see that the filters choose, and the filters as applied."""
    query = select(QualityCheck)
    applied: dict[str, str] = {}
    if not is_supervisor():
        query = query.where(
            QualityCheck.kind == CONVERSATION, QualityCheck.agent_id == current_user.id
        )
    elif (kind := request.args.get("kind", "")) in (MESSAGE, CONVERSATION):
        query = query.where(QualityCheck.kind == kind)
        applied["kind"] = kind
    if tag := request.args.get("tag", "").strip()[:40]:
        query = query.where(
            QualityCheck.id.in_(select(QualityTag.check_id).where(QualityTag.tag == tag))
        )
        applied["tag"] = tag
    if request.args.get("flagged"):
        flags = list(current_rules().flags)
        query = query.where(
            QualityCheck.id.in_(select(QualityTag.check_id).where(QualityTag.tag.in_(flags)))
        )
        applied["flagged"] = "1"
    if is_supervisor() and (name := request.args.get("agent", "").strip()[:64]):
        query = query.where(QualityCheck.agent_id.in_(select(Agent.id).where(Agent.name == name)))
        applied["agent"] = name
    if day := request.args.get("day", "").strip()[:10]:
        try:
            start, end = local_day(date.fromisoformat(day), reader_zone())
        except ValueError:
            flash(gettext("The date must look like 2026-11-24."))
        else:
            query = query.where(QualityCheck.at >= start, QualityCheck.at < end)
            applied["day"] = day
    return query, applied


def rows_for(checks: list[QualityCheck]) -> list[Row]:
    """Each check with its link, its agent, and what was said around its matches."""
    messages = {
        m.id: m
        for m in db.session.scalars(
            select(Voicemail).where(
                Voicemail.id.in_([c.voicemail_id for c in checks if c.voicemail_id])
            )
        )
    }
    recordings = {
        r.id: r
        for r in db.session.scalars(
            select(ConversationRecording).where(
                ConversationRecording.id.in_([c.recording_id for c in checks if c.recording_id])
            )
        )
    }
    agents = dict(
        db.session.execute(
            select(Agent.id, Agent.name).where(
                Agent.id.in_({c.agent_id for c in checks if c.agent_id})
            )
        ).all()
    )
    expected = {e.tag for e in current_rules().expected}
    rows = []
    for check in checks:
        missing = [tag for tag in check.tags if tag in expected]
        if check.voicemail_id in messages:
            message = messages[check.voicemail_id]
            row = Row(check, url_for("inbox.show", message_id=message.id),
                      gettext("Message %(case)s", case=message.case_number), None, missing)  # fmt: skip
            if check.matches:
                row.excerpts.append(
                    Excerpt(None, in_context(message.transcript or "", check.matches))
                )
        else:
            recording = recordings.get(check.recording_id or 0)
            row = Row(check, url_for("board.call", sid=check.call_sid),
                      gettext("Conversation %(number)s",
                              number=shown_number(recording.from_number if recording else "")),
                      agents.get(check.agent_id or 0), missing)  # fmt: skip
            turns = (recording.turns if recording else None) or []
            for index, turn in enumerate(turns):
                found = [m for m in check.matches if m.get("turn") == index]
                if found:
                    text = str(turn.get("text") or "")
                    row.excerpts.append(Excerpt(turn.get("speaker"), in_context(text, found)))
        rows.append(row)
    return rows


@bp.get("/quality")
@login_required
def index() -> str:
    """Checked conversations (and for supervisors messages), worst score (or newest) first, a
    page at a time."""
    query, applied = checks_query()
    page = keyset_page(db.session, query, ORDERS, {**applied, **cursor_args()}, size=PAGE)
    agent_names = (
        list(db.session.scalars(select(Agent.name).order_by(Agent.name))) if is_supervisor() else []
    )
    return render_template(
        "quality.html",
        rows=rows_for(page.rows),
        page=page,
        applied=applied,
        tags=current_rules().tags(),
        agent_names=agent_names,
        supervisor=is_supervisor(),
        tag_name=lambda tag: TAG_NAMES.get(tag, tag),
        speakers=SPEAKERS,
    )


def cursor_args() -> dict[str, str]:
    """The sort and the cursor of the request, as the pager reads them."""
    return {k: request.args[k] for k in ("sort", "after", "before") if request.args.get(k)}
