"""Supervisors manage API tokens in the web app: create (shown once), list, revoke."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select
from werkzeug.wrappers import Response

from ivr.auth import supervisor_required
from ivr.extensions import db, find, utcnow
from ivr.models import ApiToken
from ivr.tokens import create_token

bp = Blueprint("tokens", __name__)


@bp.get("/tokens")
@supervisor_required
def index() -> str:
    """Every token, newest first (never the token itself)."""
    rows = db.session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())).all()
    return render_template("tokens.html", tokens=rows)


@bp.post("/tokens")
@supervisor_required
def create() -> str | Response:
    """A new token for another system; shown on this page once."""
    name = request.form.get("name", "").strip()[:128]
    if not name:
        flash(gettext("Give the token a name (which system uses it)."))
        return redirect(url_for("tokens.index"))
    token = create_token(db.session, name)
    db.session.commit()
    rows = db.session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())).all()
    return render_template("tokens.html", tokens=rows, new_token=token, new_name=name)


@bp.post("/tokens/<int:token_id>/revoke")
@supervisor_required
def revoke(token_id: int) -> Response:
    """Stop a token working at once."""
    row = find(ApiToken, token_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.commit()
    return redirect(url_for("tokens.index"))
