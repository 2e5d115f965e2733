"""Supervisors manage API tokens in the web app: create (shown once), list, revoke."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select
from werkzeug.wrappers import Response

from ivr.api.tokens import create_token, parse_scopes
from ivr.audit import TOKEN_CREATE, TOKEN_REVOKE, audit
from ivr.clock import utcnow
from ivr.database import db, find
from ivr.models import ApiToken, Scope
from ivr.web.auth import supervisor_required

bp = Blueprint("tokens", __name__)


def tokens_page(**extra: object) -> str:
    """The page: every token, newest first (never the token itself)."""
    rows = db.session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())).all()
    return render_template("tokens.html", tokens=rows, scopes=list(Scope), **extra)


@bp.get("/tokens")
@supervisor_required
def index() -> str:
    """Every token with its scopes."""
    return tokens_page()


@bp.post("/tokens")
@supervisor_required
def create() -> str | Response:
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
    return tokens_page(new_token=token, new_name=name)


@bp.post("/tokens/<int:token_id>/revoke")
@supervisor_required
def revoke(token_id: int) -> Response:
    """Stop a token working at once."""
    row = find(ApiToken, token_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        audit(TOKEN_REVOKE, target=f"token:{row.name}#{row.id}")
        db.session.commit()
    return redirect(url_for("tokens.index"))
