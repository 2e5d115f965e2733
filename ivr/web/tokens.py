"""Supervisors manage API tokens in the web app: create (shown once), list, revoke (asked first).

A new token is shown on the page the creation redirects to (post/redirect/get), carried there in
the session for that one request: reloading the page shows it no more and makes no other.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from sqlalchemy import select
from werkzeug.wrappers import Response

from ivr.api.tokens import create_token, parse_scopes
from ivr.audit import TOKEN_CREATE, TOKEN_REVOKE, audit
from ivr.clock import utcnow
from ivr.database import db, find
from ivr.models import ApiToken, Scope
from ivr.web.auth import supervisor_required
from ivr.web.confirm import confirm_first

bp = Blueprint("tokens", __name__)
NEW_TOKEN = "new_token"  # in the session, from the creation to the page that shows it once


def tokens_page(**extra: object) -> str:
    """The page: every token, newest first (never the token itself)."""
    rows = db.session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())).all()
    return render_template("tokens.html", tokens=rows, scopes=list(Scope), **extra)


@bp.get("/tokens")
@supervisor_required
def index() -> str:
    """Every token with its scopes, and the one just made (this once)."""
    new = session.pop(NEW_TOKEN, None)
    if isinstance(new, dict):
        return tokens_page(new_token=new.get("token"), new_name=new.get("name"))
    return tokens_page()


@bp.post("/tokens")
@supervisor_required
def create() -> Response:
    """A new token for another system with the scopes ticked; shown on this page once."""
    name = request.form.get("name", "").strip()[:128]
    if not name:
        flash(gettext("Give the token a name (which system uses it)."))
        return redirect(url_for("tokens.index"))
    try:
        # None ticked means the CLI's default, read.
        scopes = parse_scopes(",".join(request.form.getlist("scopes")) or Scope.READ.value)
    except ValueError:
        flash(gettext("Choose scopes among those offered."))
        return redirect(url_for("tokens.index"))
    token = create_token(db.session, name, scopes)
    audit(TOKEN_CREATE, target=f"token:{name}", detail={"scopes": list(scopes)})
    db.session.commit()
    session[NEW_TOKEN] = {"name": name, "token": token}
    return redirect(url_for("tokens.index"))


def _revoke_question(token_id: int) -> str:
    row = find(ApiToken, token_id)
    return gettext("Revoke the token %(name)s? Systems using it stop working at once.",
                   name=row.name if row is not None else token_id)  # fmt: skip


@bp.post("/tokens/<int:token_id>/revoke")
@supervisor_required
@confirm_first(_revoke_question, lambda: gettext("Revoke"))
def revoke(token_id: int) -> Response:
    """Stop a token working at once."""
    row = find(ApiToken, token_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        audit(TOKEN_REVOKE, target=f"token:{row.name}#{row.id}")
        db.session.commit()
    return redirect(url_for("tokens.index"))
