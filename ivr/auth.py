"""Signing in to the agents' web app: Flask-Login sessions, hashed passwords, roles."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Request,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import gettext
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from ivr.audit import SIGN_IN, SIGN_IN_FAILED, audit
from ivr.extensions import PageForm, db, find, whole_number
from ivr.i18n import site_timezone, time_zones
from ivr.models import Agent, Role

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
F = TypeVar("F", bound=Callable[..., Any])
SESSION_HOURS = 12  # a shift


class LoginForm(PageForm):
    """Name and password."""

    name = StringField("Name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])


class SettingsForm(PageForm):
    """What an agent sets for themselves."""

    timezone = SelectField("Time zone", validators=[DataRequired()])


@login_manager.user_loader
def load_agent(ident: str) -> Agent | None:
    """The signed-in agent for a session."""
    number = whole_number(ident)
    return None if number is None else find(Agent, number)


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, whose signer is only made for a request with a cookie.

    Twilio's webhooks never carry one, and making the signer for each showed in their profile.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """An empty session when the request brings no cookie, else Flask's own."""
        if app.secret_key and self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def init_auth(app: Flask) -> None:
    """Sessions that expire after a shift and cookies that scripts cannot read."""
    app.session_interface = CookieSessions()
    login_manager.init_app(app)
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(hours=SESSION_HOURS))
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    if app.config["PUBLIC_BASE_URL"].startswith("https://"):
        app.config.setdefault("SESSION_COOKIE_SECURE", True)


def supervisor_required(view: F) -> F:
    """Pages only a supervisor may see (403 for agents)."""

    @functools.wraps(view)
    @login_required
    def checked(*args: Any, **kwargs: Any) -> Any:
        if current_user.role != Role.SUPERVISOR:
            abort(403, "supervisors only")
        return view(*args, **kwargs)

    return checked  # type: ignore[return-value]


def _safe_next(target: str | None) -> str:
    """Only local paths: a login link must not send an agent to another site."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("inbox.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    """The sign-in page."""
    form = LoginForm()
    if form.validate_on_submit():
        agent = db.session.scalar(select(Agent).where(Agent.name == form.name.data))
        if (
            agent is not None
            and agent.password_hash
            and check_password_hash(agent.password_hash, form.password.data or "")
        ):
            session.permanent = True
            login_user(agent)
            audit(SIGN_IN, actor=f"agent:{agent.name}")
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
        audit(SIGN_IN_FAILED, actor=f"agent:{form.name.data}")
        db.session.commit()
        flash(gettext("Wrong name or password."))
    return render_template("login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> Response:
    """Sign out (a POST, so a link elsewhere cannot sign an agent out)."""
    logout_user()
    return redirect(url_for("auth.login"))


@bp.get("/language/<code>")
def language(code: str) -> Response:
    """Switch the pages' language (kept on the agent's account when signed in)."""
    if code in ("zh", "en"):
        session["lang"] = code
        if current_user.is_authenticated:
            current_user.locale = code
            db.session.commit()
    return redirect(_safe_next(_came_from()))


def _came_from() -> str | None:
    """The path of the page the agent came from, if the Referer header holds a URL."""
    try:
        return urlsplit(request.referrer).path if request.referrer else None
    except ValueError:  # "http://[::1" and the like
        return None


@bp.route("/me", methods=["GET", "POST"])
@login_required
def settings() -> str | Response:
    """The agent's own settings: the time zone every time on their pages is shown in."""
    form = SettingsForm(timezone=current_user.timezone or site_timezone())
    form.timezone.choices = time_zones()
    if form.validate_on_submit():
        current_user.timezone = form.timezone.data
        db.session.commit()
        flash(gettext("Saved."))
        return redirect(url_for("auth.settings"))
    return render_template("me.html", form=form, now=datetime.now(UTC))
