"""A supervisor erases everything about one caller: a number, then a confirmation that says
how much will go (voicemail/erasure.py does it and writes the audit line)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from ivr.database import db
from ivr.numbers import NumberError, mask
from ivr.web.auth import supervisor_required
from voicemail.erasure import erase, preview

bp = Blueprint("erasure", __name__, template_folder="templates")


def _page(status: int = 200, **context: object) -> tuple[str, int]:
    return render_template("erase.html", **context), status


@bp.get("/privacy/erase")
@supervisor_required
def erase_form() -> tuple[str, int]:
    """Ask for the number whose data should be erased."""
    return _page()


@bp.post("/privacy/erase")
@supervisor_required
def erase_preview() -> tuple[str, int]:
    """Say how much is kept about the number, with a button that erases it."""
    number = request.form.get("number", "").strip()[:64]
    try:
        counts = preview(db.session, number)
    except NumberError:
        flash(gettext("That is not a phone number: 3 to 20 digits, with + and the country code."))
        return _page(400, number=number)
    if not counts:
        flash(gettext("Nothing is kept about %(number)s.", number=mask(number)))
        return _page(404, number=number)
    return _page(number=number, masked=mask(number), counts=counts)


@bp.post("/privacy/erase/confirm")
@supervisor_required
def erase_confirm() -> tuple[str, int] | Response:
    """Erase everything about the number and record it in the audit log."""
    number = request.form.get("number", "").strip()[:64]
    try:
        removed = erase(db.session, current_app.config, number)
    except NumberError:
        flash(gettext("That is not a phone number: 3 to 20 digits, with + and the country code."))
        return _page(400)
    if not removed:
        flash(gettext("Nothing is kept about %(number)s.", number=mask(number)))
        return _page(404)
    flash(gettext("Erased everything about %(number)s: %(count)s row(s).", number=mask(number),
                  count=sum(removed.values())))  # fmt: skip
    return redirect(url_for("erasure.erase_form"))
