"""WSGI entry: ``gunicorn app:app`` and ``flask --app app …``; the factory wires both packages."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from flask import Flask, Response, redirect, request
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as BaseResponse

from ivr import api
from ivr.callflow import webhooks as voice
from ivr.callflow.menu import MenuError
from ivr.callflow.menu_file import load_menu
from ivr.cli import agents, orders, tokens
from ivr.database import db, migrate
from ivr.hotline import Hotline
from ivr.ops import health, metrics
from ivr.ops.logs import init_logging
from ivr.ops.metrics import init_metrics
from ivr.ops.requests import read_body, refuse_nul_bytes
from ivr.ops.security import init_security_headers
from ivr.queues import agent_legs
from ivr.queues import webhooks as queue_calls
from ivr.queues.distribution import start_distributor
from ivr.queues.waiting import enqueue_caller
from ivr.settings import ConfigError, check_settings, development_secret, settings_from_env
from ivr.simulator.cli import simulate
from ivr.web import agents as agents_page
from ivr.web import audit as audit_page
from ivr.web import auth, board, controls, live, notices, wallboard
from ivr.web import performance as performance_page
from ivr.web import tokens as tokens_page
from ivr.web import wrapup as wrapup_page
from ivr.web.drafts import init_drafts
from ivr.web.errors import error_page, wants_page
from ivr.web.form_keys import init_form_keys
from ivr.web.forms import csrf
from ivr.web.i18n import init_i18n
from ivr.web.nav import Navigation, PageLink, home_url, init_nav
from voicemail import api as voicemail_api
from voicemail import call_back, conversation_recording, recording
from voicemail.cases import find_case_in
from voicemail.cli import voicemail_cli
from voicemail.demo import demo_command
from voicemail.follow import follow_messages
from voicemail.health import READINESS
from voicemail.metrics import message_figures
from voicemail.privacy_cli import privacy_cli
from voicemail.quality_rules import load_rules
from voicemail.transcription import ModelRegistry
from voicemail.web import conversations, erasure, figures, inbox, quality
from voicemail.web.caller_links import messages_and_cases
from voicemail.worker import start_embedded_worker

MIGRATIONS = Path(__file__).with_name("migrations")
# The agents' pages of both packages, in the order the navigation shows them.
NAVIGATION = Navigation(
    home="inbox.index",
    links=(
        PageLink(_l("Inbox"), "inbox.index"),
        PageLink(_l("Overdue"), "inbox.index", {"overdue": 1}),
        PageLink(_l("Mine"), "inbox.index", {"mine": 1}),
        PageLink(_l("Board"), "board.board"),
        PageLink(_l("Calls"), "board.calls"),
        PageLink(_l("Quality"), "quality.index"),
        PageLink(_l("Live"), "live.page", supervisors_only=True),
        PageLink(_l("Figures"), "figures.figures", supervisors_only=True),
        PageLink(_l("Agents and queues"), "performance.index", supervisors_only=True),
        PageLink(_l("API tokens"), "tokens.index", supervisors_only=True),
        PageLink(_l("Agents"), "agents.index", supervisors_only=True),
        PageLink(_l("Audit log"), "audit.index", supervisors_only=True),
        PageLink(_l("Erase a caller"), "erasure.erase_form", supervisors_only=True),
    ),
    call_links=(PageLink(_l("messages from this call"), "inbox.index"),),
    news="inbox.latest",
)


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the hotline app from the environment, with ``overrides`` on top (for tests)."""
    app = Flask(__name__, static_folder="ivr/web/static", template_folder="ivr/web/templates")
    app.config.update(settings_from_env())
    app.config.update(overrides or {})
    check_settings(app.config)
    data_dir = Path(app.config["HOTLINE_DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = development_secret(data_dir)
    app.config["MAX_CONTENT_LENGTH"] = app.config["HOTLINE_MAX_REQUEST_BYTES"]
    # A server connection may have died since it was pooled (a PostgreSQL restart): test it on
    # checkout. A SQLite file cannot drop a connection, so it skips the extra query per request.
    server = not str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite")
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": server})
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    if app.config["HOTLINE_TRUST_PROXY"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)  # type: ignore[method-assign]
    app.before_request(read_body)  # first: every later hook may parse the body
    init_logging(app)

    # A broken menu stops start-up here, with the file, line and node in the message.
    app.extensions["hotline"] = Hotline(
        menu=load_menu(app.config["HOTLINE_MENU"]),
        case_lookup=find_case_in,
        handlers={"voicemail": recording.record_message, "queue": enqueue_caller},
        follow_recordings=functools.partial(follow_messages, app),
        readiness=READINESS,
        metrics=(message_figures,),
        caller_links=messages_and_cases,
        recorder=conversation_recording.TwilioRecorder(),
    )

    # So do broken quality rules, with the file and line.
    app.extensions["hotline.quality"] = load_rules(app.config["HOTLINE_QUALITY_RULES"])
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    csrf.init_app(app)
    auth.init_auth(app)
    init_i18n(app)
    init_nav(app, NAVIGATION)
    app.add_url_rule("/", endpoint="index", view_func=index)
    app.register_blueprint(auth.bp)
    app.register_blueprint(inbox.bp)
    app.register_blueprint(conversations.bp)
    app.register_blueprint(conversation_recording.bp)
    app.register_blueprint(board.bp)
    app.register_blueprint(erasure.bp)
    app.register_blueprint(controls.bp)
    app.register_blueprint(live.bp)
    app.register_blueprint(live.voice_bp)
    app.register_blueprint(wrapup_page.bp)
    app.register_blueprint(tokens_page.bp)
    app.register_blueprint(agents_page.bp)
    app.register_blueprint(notices.bp)
    app.register_blueprint(audit_page.bp)
    app.register_blueprint(performance_page.bp)
    app.register_blueprint(wallboard.bp)
    app.register_blueprint(figures.bp)
    app.register_blueprint(quality.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    init_metrics(app)
    init_security_headers(app)
    app.before_request(refuse_nul_bytes)
    init_form_keys(app)  # after the CSRF check and the refusals: only a form that may be done
    init_drafts(app)
    app.register_blueprint(voice.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(queue_calls.bp)
    app.register_blueprint(agent_legs.bp)
    app.register_blueprint(recording.bp)
    app.register_blueprint(voicemail_api.bp)
    app.register_blueprint(call_back.bp)
    app.register_blueprint(call_back.voice_bp)
    # Twilio and API clients prove themselves with signatures and tokens, not browser cookies.
    for machine_facing in (voice.bp, queue_calls.bp, agent_legs.bp, recording.bp, api.bp,
                           conversation_recording.bp,
                           voicemail_api.bp, call_back.voice_bp, live.voice_bp):  # fmt: skip
        csrf.exempt(machine_facing)
    app.extensions["hotline.models"] = ModelRegistry(app.config)
    # Started by the first request, as the worker below: automatic queues notice wrap-ups ending.
    app.before_request(functools.partial(start_distributor_hook, app))
    if app.config["HOTLINE_WORKER"] == "thread":
        # Started by the first request, so CLI commands (db upgrade…) never start one.
        app.before_request(lambda: start_embedded_worker(app) and None)
    for group in (tokens, orders, agents, simulate, voicemail_cli, demo_command, privacy_cli):
        app.cli.add_command(group)
    app.register_error_handler(HTTPException, http_error)
    return app


@login_required
def index() -> BaseResponse:
    """The app opens on the agents' home page (the inbox)."""
    return redirect(home_url())


def start_distributor_hook(app: Flask) -> None:
    """before_request: start this process's distribution tick (a hook must return None)."""
    start_distributor(app)


def http_error(exc: HTTPException) -> Response:
    """Errors outside the blueprints: JSON under /api, a page for browsers, plain text else."""
    if request.path.startswith("/api/"):
        return api.errors.error_response(exc.code or 500, exc.description or exc.name)
    if wants_page():
        return error_page(exc)
    return Response(f"{exc.code} {exc.name}: {exc.description}\n", exc.code, mimetype="text/plain")


def __getattr__(name: str) -> Flask:
    # Built on first use, not at import: tests import create_app without reading the environment.
    if name in {"app", "application"}:
        try:
            globals()[name] = create_app()
        except (ConfigError, MenuError) as exc:
            # One line for the person who typed the command (flask prints "Error: …").
            raise click.ClickException(str(exc)) from None
        return globals()[name]
    raise AttributeError(name)


__all__ = ["create_app"]
