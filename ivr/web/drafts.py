"""Nothing typed is lost when a session ends: the form is kept, sign-in is asked, the page shows it.

A form sent after its session ended fails the CSRF check (the cookie that held its secret is
gone) or finds nobody signed in. Either way its fields (never a password nor a token) are kept
in the database under a random id the browser's new session holds; the agent signs in on a
translated page that says so, lands on the form's own page (never the POST-only URL the form
went to: that was a 405), and finds the fields filled in again, to check and send. Nothing is
done on its own after sign-in: a call-back rung an hour late, or by whoever signed in next on a
shared desk, would be worse than one more click.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import delete
from werkzeug.wrappers import Response

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import FormDraft
from ivr.text import whole_number
from ivr.web.auth import DRAFT, LoginForm, login_manager, session_seconds_left
from ivr.web.nav import home_url, is_page, page_of_form

# Never kept: secrets, the old page's tokens, and a confirmation (the draft asks again).
NOT_KEPT = frozenset({"csrf_token", "form_key", "confirmed", "password", "current", "new",
                      "repeat"})  # fmt: skip
# Forms whose whole content is a secret, that only sign in and out, or that name a caller to
# erase (kept nowhere else than where erasure finds it).
NO_DRAFT = frozenset({"auth.login", "auth.logout", "auth.change_password",
                      "agents.reset_password", "erasure.erase_preview",
                      "erasure.erase_confirm"})  # fmt: skip
# Fields an agent types (a note, a wrap-up, a token's name, a number), quoted in the notice so
# that they can be read and copied even where the page's scripts do not run.
TYPED = frozenset({"body", "note", "name", "number", "phone"})
KEEP = timedelta(hours=2)
FIELD_LIMIT = 4000  # characters per value: a note holds 2000


def _owner() -> int | None:
    """The agent whose form this is, if the request still says (an expired sign-in does)."""
    if current_user.is_authenticated:
        return int(current_user.id)
    return whole_number(str(session.get("_user_id", "")).partition(":")[0])


def keep_draft() -> None:
    """Keep what the form sent, for its page to show after sign-in (not for every form)."""
    if request.method != "POST" or request.endpoint in NO_DRAFT or not request.form:
        return
    fields = {name: [value[:FIELD_LIMIT] for value in values]
              for name, values in request.form.lists() if name not in NOT_KEPT}  # fmt: skip
    now = utcnow()
    db.session.execute(delete(FormDraft).where(FormDraft.created_at < now - KEEP))
    draft = FormDraft(id=secrets.token_urlsafe(24), agent_id=_owner(), created_at=now,
                      action=request.path[:2000], page=page_of_form()[:2000], fields=fields)  # fmt: skip
    db.session.add(draft)
    db.session.commit()
    session[DRAFT] = {"id": draft.id, "action": draft.action}


@dataclass(frozen=True)
class ShownDraft:
    """A draft as its page shows it: where it goes, every field, and what was typed."""

    action: str
    fields: dict[str, list[str]]
    typed: list[str]


def shown_draft() -> ShownDraft | None:
    """The draft to fill in on this page, if the signed-in agent has one here."""
    kept = session.get(DRAFT)
    if not isinstance(kept, dict) or not current_user.is_authenticated:
        return None
    draft = db.session.get(FormDraft, str(kept.get("id", ""))[:64])
    if (
        draft is None
        or draft.created_at < utcnow() - KEEP
        or draft.agent_id not in (None, current_user.id)
    ):
        session.pop(DRAFT, None)  # too old, or someone else's: never shown
        return None
    if urlsplit(draft.page).path != request.path:
        return None
    typed = [value for name in TYPED for value in draft.fields.get(name, []) if value.strip()]
    return ShownDraft(draft.action, draft.fields, typed)


def drop_sent_draft(response: Response) -> Response:
    """after_request: a draft sent again, and done, is no longer kept."""
    kept = session.get(DRAFT)
    if (
        isinstance(kept, dict)
        and request.method == "POST"
        and request.path == kept.get("action")
        and response.status_code in (301, 302, 303)
        and current_user.is_authenticated
    ):
        session.pop(DRAFT, None)
        db.session.execute(delete(FormDraft).where(FormDraft.id == str(kept.get("id"))[:64]))
        db.session.commit()
    return response


def _notice(text: str) -> None:
    """Flash ``text`` once (a page polling every second must not pile up copies)."""
    if text not in [message for _, message in session.get("_flashes", [])]:
        flash(text)


def _signed_out_notice() -> str:
    return gettext("Your session had ended, so this was not done. Sign in again: what you sent "
                   "is kept, and shown again on its page for you to check and send.")  # fmt: skip


def form_expired(error: CSRFError) -> tuple[str, int]:
    """A form that failed its CSRF check: kept, and a friendly page instead of a bare 400."""
    keep_draft()
    if current_user.is_authenticated and request.endpoint != "auth.login":
        return render_template("form_expired.html", page=page_of_form()), 400
    next_page = None
    if request.endpoint == "auth.login":
        flash(gettext("The sign-in page had expired. Please sign in again."))
        next_page = request.args.get("next")
    elif request.endpoint != "auth.logout":
        flash(_signed_out_notice())
        next_page = page_of_form()
    action = url_for("auth.login", next=next_page) if next_page else url_for("auth.login")
    return render_template("login.html", form=LoginForm(), action=action), 400


def ask_to_sign_in() -> Response:
    """Flask-Login's unauthorized handler: sign in, then back to the page, never to a POST URL."""
    if request.method == "POST":
        keep_draft()
        page = page_of_form()
        _notice(_signed_out_notice())
    else:
        page = request.full_path.rstrip("?") if is_page(request.path) else home_url()
        _notice(gettext("Please sign in to see this page."))
    return redirect(url_for("auth.login", next=page))


def init_drafts(app: Flask) -> None:
    """Friendly pages for a form sent too late; drafts and the session's end for templates."""
    app.register_error_handler(CSRFError, form_expired)
    login_manager.unauthorized_handler(ask_to_sign_in)
    app.after_request(drop_sent_draft)
    app.jinja_env.globals.update(form_draft=shown_draft, session_seconds_left=session_seconds_left)
