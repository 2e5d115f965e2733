"""Signing in to the agents' web app: Flask-Login sessions, hashed passwords, roles."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Request,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import gettext, lazy_gettext
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from ivr.audit import PASSWORD_CHANGE, SIGN_IN, SIGN_IN_FAILED, audit, audit_throttled
from ivr.clock import site_timezone, utcnow
from ivr.database import db, find
from ivr.models import Agent, Role
from ivr.queues.agents import AgentError, change_own_password, sign_out
from ivr.text import whole_number
from ivr.web.forms import PageForm
from ivr.web.nav import home_url, is_page
from ivr.web.throttle import count_attempt, forget_failures, limits
from ivr.web.zones import zone_choices

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
F = TypeVar("F", bound=Callable[..., Any])
SIGNED_IN_AT = "signed_in_at"  # in the session: when its sign-in happened (Unix seconds)
DRAFT = "draft"  # in the session: the id and URL of a form's draft (ivr.web.drafts)
KEPT_AT_SIGN_IN = ("lang", DRAFT)


class LoginForm(PageForm):
    """Name and password."""

    name = StringField("Name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])


class SettingsForm(PageForm):
    """What an agent sets for themselves."""

    timezone = SelectField("Time zone", validators=[DataRequired()])


class PasswordForm(PageForm):
    """An agent's new password, confirmed by the one they have now."""

    current = PasswordField("Current password", validators=[DataRequired(), Length(max=256)])
    new = PasswordField(
        "New password",
        validators=[
            DataRequired(),
            Length(min=8, max=256, message=lazy_gettext("Use 8 to 256 characters.")),
        ],
    )
    repeat = PasswordField(
        "Repeat",
        validators=[
            DataRequired(),
            EqualTo("new", message=lazy_gettext("The two new passwords differ.")),
        ],
    )


@login_manager.user_loader
def load_agent(ident: str) -> Agent | None:
    """The signed-in agent for a session that is still good.

    The session's id names the agent and the session epoch it was signed in under: signing
    out, a password change and disabling raise the epoch in the database, which ends every
    copy of the cookie in every process. The sign-in time bounds the session's life.
    """
    number, _, epoch = ident.partition(":")
    agent_id, epoch_number = whole_number(number), whole_number(epoch)
    if agent_id is None or epoch_number is None or not _session_is_young():
        return None
    agent = find(Agent, agent_id)
    if agent is None or not agent.is_active or agent.session_epoch != epoch_number:
        return None
    return agent


def _session_is_young() -> bool:
    since = session.get(SIGNED_IN_AT)
    if not isinstance(since, int):
        return False
    age = utcnow().timestamp() - since
    return -60 < age < current_app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()


def session_seconds_left() -> int:
    """How long this browser's sign-in lasts from now (0 if it has ended)."""
    since = session.get(SIGNED_IN_AT)
    if not isinstance(since, int):
        return 0
    lifetime = current_app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
    return max(0, int(since + lifetime - utcnow().timestamp()))


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
    """Sessions that expire after a shift and cookies that scripts cannot read.

    Set, not defaulted: Flask defines every one of these keys itself (31 days, no SameSite).
    """
    app.session_interface = CookieSessions()
    login_manager.init_app(app)
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(
        hours=float(app.config.get("HOTLINE_SESSION_HOURS", 12.0))
    )
    # A form's CSRF token lasts as long as its session: Flask-WTF's hour refused a note typed
    # on a page opened earlier in the shift.
    app.config["WTF_CSRF_TIME_LIMIT"] = int(
        app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
    )
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = app.config["PUBLIC_BASE_URL"].startswith("https://")
    # The cookie is sent only when the session changed: a board's poll answered after a form's
    # reply would otherwise put back the session it was sent with, and the form's message was
    # lost. Sessions end at a fixed time after sign-in (``_session_is_young``), not sliding.
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False


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
    """Only pages of this site: a login link must not send an agent to another site, nor to
    a form's URL that only takes a POST (opening it was a 405)."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and not urlsplit(target).netloc
        and is_page(urlsplit(target).path)
    ):
        return target
    return home_url()


@functools.cache
def _dummy_hash() -> str:
    # Checked for names with no usable account, so they take as long as a wrong password.
    return generate_password_hash("no account has this password")


def signed_in_agent(name: str, password: str) -> Agent | None:
    """The agent if the name and password match an active account; equally slow either way."""
    agent = db.session.scalar(select(Agent).where(Agent.name == name))
    usable = agent is not None and agent.is_active and bool(agent.password_hash)
    stored = agent.password_hash if agent is not None and usable else _dummy_hash()
    right = check_password_hash(stored, password)
    return agent if usable and right else None


def start_session(agent: Agent) -> None:
    """Sign the agent in on this browser, for one session lifetime from now.

    Whatever the session held before is dropped (a fixed session id must not carry over); only
    the language chosen on the sign-in page and a form's draft kept when the last session ended
    (``ivr.web.drafts``) stay.
    """
    kept = {key: session[key] for key in KEPT_AT_SIGN_IN if key in session}
    session.clear()
    session.update(kept)
    session.permanent = True
    now = utcnow()
    session[SIGNED_IN_AT] = int(now.timestamp())
    # The latest session's end: the distributor sets the agent away when it passes.
    agent.session_expires_at = now + current_app.config["PERMANENT_SESSION_LIFETIME"]
    db.session.commit()
    login_user(agent)


def _wait_message(blocked_until: datetime) -> str:
    minutes = max(1, math.ceil((blocked_until - utcnow()).total_seconds() / 60))
    return gettext("Too many failed sign-ins. Wait %(minutes)s min, then try again.",
                   minutes=minutes)  # fmt: skip


@bp.route("/login", methods=["GET", "POST"])
def login() -> tuple[str, int] | str | Response:
    """The sign-in page; wrong passwords are throttled per account and per address."""
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("login.html", form=form)
    counted = limits(form.name.data or "", request.remote_addr)
    blocked_until = count_attempt(db.session, counted, utcnow())
    db.session.commit()  # the count is seen by every process before the password is checked
    if blocked_until is not None:
        audit_throttled(f"agent:{form.name.data}")
        db.session.commit()
        flash(_wait_message(blocked_until))
        return render_template("login.html", form=form), 429
    agent = signed_in_agent(form.name.data or "", form.password.data or "")
    if agent is None:
        audit(SIGN_IN_FAILED, actor=f"agent:{form.name.data}")
        db.session.commit()
        flash(gettext("Wrong name or password."))
        return render_template("login.html", form=form)
    forget_failures(db.session, counted, utcnow())
    audit(SIGN_IN, actor=f"agent:{agent.name}")
    db.session.commit()
    start_session(agent)
    return redirect(_safe_next(request.args.get("next")))


@bp.post("/logout")
@login_required
def logout() -> Response:
    """Sign out (a POST, so a link elsewhere cannot sign an agent out).

    The agent's sessions end on the server too: a copy of the cookie no longer signs anyone in;
    and the agent is away, so no caller is offered to them.
    """
    sign_out(current_user)
    db.session.commit()
    logout_user()
    session.clear()
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
    form = _settings_form(request.args.get("find", "")[:64] if request.method == "GET" else "")
    if form.validate_on_submit():
        current_user.timezone = form.timezone.data
        db.session.commit()
        flash(gettext("Saved."))
        return redirect(url_for("auth.settings"))
    return render_template("me.html", form=form, password_form=PasswordForm(),
                           find=request.args.get("find", "")[:64], now=datetime.now(UTC))  # fmt: skip


def _settings_form(find: str = "") -> SettingsForm:
    """The time-zone form, its zones grouped by region and narrowed to ``find``."""
    mine = current_user.timezone or site_timezone()
    form = SettingsForm(timezone=mine)
    form.timezone.choices = zone_choices(datetime.now(UTC), find, keep=mine)
    return form


@bp.post("/me/password")
@login_required
def change_password() -> tuple[str, int] | Response:
    """Change one's own password; every other session of the agent ends.

    Wrong current passwords count against the account's sign-in tries, as on the sign-in page.
    """
    form = PasswordForm()
    status = 400
    if form.validate_on_submit():
        counted = limits(current_user.name, request.remote_addr)
        blocked_until = count_attempt(db.session, counted, utcnow())
        db.session.commit()
        if blocked_until is not None:
            status = 429
            form.current.errors = [_wait_message(blocked_until)]
        elif not _password_changed(form):
            form.current.errors = [gettext("That is not your current password.")]
        else:
            forget_failures(db.session, counted, utcnow())
            audit(PASSWORD_CHANGE, target=f"agent:{current_user.name}")
            db.session.commit()
            start_session(current_user._get_current_object())  # here, under the new epoch
            flash(gettext("Your password is changed; your other sessions have ended."))
            return redirect(url_for("auth.settings"))
    return render_template("me.html", form=_settings_form(), password_form=form, find="",
                           now=datetime.now(UTC)), status  # fmt: skip


def _password_changed(form: PasswordForm) -> bool:
    try:
        change_own_password(current_user, form.current.data or "", form.new.data or "")
    except AgentError:
        return False
    return True
