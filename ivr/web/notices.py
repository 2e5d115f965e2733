"""The signed-in agent's notices on their inbox and board, in their language, and "Seen"."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, redirect, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from ivr.database import db
from ivr.notices import mark_seen, unseen
from ivr.text import whole_number
from ivr.web.nav import page_of_form

bp = Blueprint("notices", __name__)

SENTENCES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "case_taken": lambda d: _("%(by)s gave your case %(case)s to %(to)s.", by=d.get("by", ""),
                              case=d.get("case", ""), to=d.get("to", "")),
    "case_given": lambda d: _("%(by)s gave you case %(case)s (it was with %(from)s).",
                              by=d.get("by", ""), case=d.get("case", ""),
                              **{"from": d.get("from") or _("nobody")}),
}  # fmt: skip


def notice_sentence(kind: str, detail: Mapping[str, Any]) -> str:
    """A notice as a sentence in the reader's language."""
    sentence = SENTENCES.get(kind)
    return sentence(detail) if sentence else _("Something else happened")


@bp.app_context_processor
def template_helpers() -> dict[str, Any]:
    """The partial ``_agent_notices.html`` draws with these."""

    def my_notices() -> list[Any]:
        if not current_user.is_authenticated:
            return []
        return list(unseen(db.session, current_user.id))

    return {"my_notices": my_notices, "notice_sentence": notice_sentence}


@bp.post("/notices/seen")
@login_required
def seen() -> Response:
    """Mark the notices shown on the page seen: they are not shown again."""
    ids = [n for v in request.form.getlist("notice")[:50] if (n := whole_number(v)) is not None]
    mark_seen(db.session, current_user.id, ids)
    db.session.commit()
    return redirect(page_of_form())
