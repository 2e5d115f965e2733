"""Each form of the agents' pages is done once: a one-time key, claimed in the database.

Every form carries a random key (``form_key()`` in the templates; forms.js adds one to forms
drawn by scripts). The first POST with a key claims a row before the view runs, in its own
commit, so a double click, a reload or the back button sent from any web process on any
machine finds the claim and is answered as the first one was: its notices again, "already
done", and the same redirect. The claim is a digest of the key with the agent, the URL and the
fields: the same page sending other fields (another status, another note) is a new action.
A view that answers with a page rather than a redirect (a refusal, a form with errors) gives
its claim back, so the form can be corrected and sent again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import datetime, timedelta

from flask import Flask, current_app, flash, g, redirect, request, session
from flask_babel import gettext
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from ivr.callflow.call_log import insert_new
from ivr.clock import utcnow
from ivr.database import db
from ivr.models import FormKeyUse
from ivr.web.nav import page_of_form

FIELD = "form_key"
NOT_FIELDS = {FIELD, "csrf_token"}
# Longer than any page stays open (a session is 12 hours): a key older than this is forgotten.
KEEP = timedelta(days=2)
# A copy sent while the first is still being done waits this long for its answer.
WAIT_FOR_FIRST = 10.0
FLASHES = "_flashes"  # where Flask keeps the flashed messages in the session


def form_key() -> Markup:
    """The hidden field a form needs to be done once (a fresh random key per form drawn)."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        FIELD, secrets.token_urlsafe(18)
    )


def digest_of(
    secret: str, key: str, agent_id: int, path: str, fields: list[tuple[str, str]]
) -> str:
    """What a form's sending is known by: its key, agent, URL and fields, signed."""
    text = "\x1f".join([key, str(agent_id), path, *(f"{k}\x1e{v}" for k, v in sorted(fields))])
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def claim(session: Session, digest: str, agent_id: int, now: datetime) -> FormKeyUse | None:
    """Claim the sending ``digest``: None if it is ours to do, else the first one's row.

    The caller commits at once, before doing anything, so that other processes see the claim.
    """
    session.execute(delete(FormKeyUse).where(FormKeyUse.used_at < now - KEEP))
    taken = session.scalar(
        insert_new(session, FormKeyUse, ["digest"]).returning(FormKeyUse.digest),
        {"digest": digest, "agent_id": agent_id, "used_at": now},
    )
    if taken is not None:
        return None
    return session.scalar(
        select(FormKeyUse)
        .where(FormKeyUse.digest == digest)
        .execution_options(populate_existing=True)
    )


def record(session: Session, digest: str, location: str, notices: list[list[str]]) -> None:
    """Keep the first answer for the copies of the form that may follow."""
    row = session.get(FormKeyUse, digest)
    if row is not None:
        row.location, row.notices = location, notices


def give_back(session: Session, digest: str) -> None:
    """The form was not done: its key may be used again."""
    session.execute(delete(FormKeyUse).where(FormKeyUse.digest == digest))


def _sent_key() -> str | None:
    # The key first: a webhook has none, and need not load a user to be let through.
    key = request.form.get(FIELD, "") if request.method == "POST" else ""
    return key[:64] if key and current_user.is_authenticated else None


def claim_form_key() -> Response | None:
    """before_request: claim the form's key, or answer a copy as the first sending was."""
    key = _sent_key()
    if key is None:
        return None
    fields = [(k, v) for k, v in request.form.items(multi=True) if k not in NOT_FIELDS]
    digest = digest_of(current_app.config["SECRET_KEY"], key, current_user.id, request.path,
                       fields)  # fmt: skip
    deadline = time.monotonic() + WAIT_FOR_FIRST
    while True:
        first = claim(db.session, digest, current_user.id, utcnow())
        db.session.commit()
        if first is None:
            g.form_key = digest
            g.form_key_flashes = len(session.get(FLASHES, []))
            return None
        if first.location or time.monotonic() > deadline:
            return _answer_again(first)
        time.sleep(0.1)  # the first is being done by another request: wait for its answer


def _answer_again(first: FormKeyUse) -> Response:
    for category, message in first.notices or []:
        flash(message, category)
    if first.location:
        flash(gettext("This was already sent, and done once: nothing was done again."))
        return redirect(first.location)
    flash(gettext("This was already sent and is being done: nothing was done again."))
    return redirect(page_of_form())


def keep_answer(response: Response) -> Response:
    """after_request: keep a redirect as the form's answer; give the key back otherwise."""
    digest = g.pop("form_key", None)
    if digest is None:
        return response
    if response.status_code in (301, 302, 303) and response.location:
        notices = session.get(FLASHES, [])[g.pop("form_key_flashes", 0) :]
        record(db.session, digest, response.location, [list(n) for n in notices])
    else:
        db.session.rollback()
        give_back(db.session, digest)
    db.session.commit()
    return response


def give_back_on_error(error: BaseException | None) -> None:
    """teardown: a view that raised gives its claim back (after_request may not have run)."""
    digest = g.pop("form_key", None)
    if digest is not None:
        db.session.rollback()
        give_back(db.session, digest)
        db.session.commit()


def init_form_keys(app: Flask) -> None:
    """Check form keys on every POST of a signed-in agent (after CSRF); give templates the field."""
    app.before_request(claim_form_key)
    app.after_request(keep_answer)
    app.teardown_request(give_back_on_error)
    app.jinja_env.globals["form_key"] = form_key
