"""Fixtures: an app on a real database (SQLite, or PostgreSQL via DATABASE_URL), signed webhooks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.test import TestResponse

from app import MIGRATIONS, create_app
from ivr.database import db
from ivr.queues.distribution import stop_distributor
from tests.loopback import RestCalls, serve
from voicemail.worker import stop_embedded_worker

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 32
PUBLIC_BASE_URL = "https://hotline.example.com"
REPO = Path(__file__).resolve().parents[1]


def database_url(tmp_dir: Path) -> str:
    """PostgreSQL when DATABASE_URL is set (CI runs both), else a SQLite file."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_dir / 'test.sqlite'}"


def own_database(url: str) -> str:
    """Under pytest-xdist, each worker process gets a PostgreSQL database of its own."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    base, _, name = url.rpartition("/")
    mine = f"{name.split('?')[0]}_{worker}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": mine}) is None:
            conn.execute(text(f'CREATE DATABASE "{mine}"'))
    engine.dispose()
    return f"{base}/{mine}"


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database migrated with the real Alembic migrations, once per test run."""
    url = database_url(tmp_path_factory.mktemp("db"))
    if url.startswith(("postgresql", "postgres")):
        url = own_database(url.replace("postgresql://", "postgresql+psycopg://", 1))
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    app = create_app(settings(tmp_path_factory.mktemp("data"), url))
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
        db.engine.dispose()
    return url


def settings(data_dir: Path, url: str, **extra: Any) -> dict[str, Any]:
    """Production-mode settings for tests: signatures are checked as in a deployment."""
    return {
        "HOTLINE_ENV": "production",
        "HOTLINE_DATA_DIR": str(data_dir),
        "SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://", 1),
        "SECRET_KEY": "test-secret",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        # Never Twilio itself: a loopback port nobody listens on, unless a test gives its stand-in.
        "TWILIO_API_BASE_URL": "https://127.0.0.1:9",
        "ORDER_LOOKUP_URL": "",
        "HOTLINE_WORKER": "off",  # tests run workers explicitly
        # At full priority: the suite's other processes would starve a nicer one's Vosk.
        "HOTLINE_WORKER_NICE": 0,
        **extra,
    }


@pytest.fixture
def manual_queues(app_settings: dict[str, Any]) -> None:
    """Queues served by "Take next": for tests that set queue stays by hand, so that no
    distributor moves them meanwhile (``pytestmark = pytest.mark.usefixtures(...)``)."""
    from tests.factories import manual_menu

    app_settings["HOTLINE_MENU"] = manual_menu()


@pytest.fixture
def app_settings(database: str, tmp_path: Path) -> dict[str, Any]:
    """Settings for this test's app; a test may change them before asking for ``app``."""
    return settings(tmp_path / "data", database)


@pytest.fixture
def app(app_settings: dict[str, Any]) -> Iterator[Flask]:
    """The hotline app on the migrated database, emptied after the test."""
    app = create_app(app_settings)
    yield app
    stop_embedded_worker(app)
    stop_distributor(app)
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client for the app (its pages in English unless a test asks otherwise)."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature for a POST to ``url`` with ``params``, as Twilio computes it."""
    return RequestValidator(token).compute_signature(url, params)


class Twilio:
    """Sends signed webhooks through the test client, as Twilio would."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def post(self, path: str, params: dict[str, str], *, token: str = AUTH_TOKEN) -> TestResponse:
        """POST form ``params`` to ``path`` with a valid signature for ``token``."""
        headers = {"X-Twilio-Signature": sign(PUBLIC_BASE_URL + path, params, token)}
        return self.client.post(path, data=params, headers=headers)


@pytest.fixture
def twilio(client: FlaskClient) -> Twilio:
    """Signed webhooks through the test client."""
    return Twilio(client)


class ClosingHandler(WSGIRequestHandler):
    """werkzeug's development server, closing a body the browser hung up on.

    Its ``run_wsgi`` drains the socket before it closes the app's body, so a player that stops
    an audio download mid-way (a reset connection) leaves the file open to the garbage collector:
    a ResourceWarning in whichever test runs next. gunicorn closes it; here the body is kept in
    the environ and closed when the connection drops.
    """

    def connection_dropped(
        self, error: BaseException, environ: dict[str, Any] | None = None
    ) -> None:
        body = (environ or {}).get("tests.body")
        if body is not None and hasattr(body, "close"):
            body.close()


def keeping_body(app: Flask) -> Any:
    """``app`` as WSGI, leaving its body in the environ for ``ClosingHandler``."""

    def serve(environ: dict[str, Any], start_response: Any) -> Any:
        body = app(environ, start_response)
        environ["tests.body"] = body
        return body

    return serve


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served over real HTTP on loopback; yields its base URL."""
    server = make_server(
        "127.0.0.1", 0, keeping_body(app), threaded=True, request_handler=ClosingHandler
    )
    # Polled every 50 ms: shutdown() waits for a poll, and the default half second a test added
    # up to a fifth of the quick loop.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that never touch the database, so a second run on PostgreSQL can skip them."""
    for item in items:
        if "database" not in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.nodb)


@pytest.fixture
def rest() -> Iterator[str]:
    """Twilio's REST API on loopback; ``RestCalls.placed`` lists the calls the app placed."""
    RestCalls.placed = []
    RestCalls.rooms = []
    with serve(RestCalls) as url:
        yield url


def free_port() -> int:
    """A TCP port on loopback that nothing listens on just now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def gunicorn(app: Flask, app_settings: dict[str, Any], tmp_path: Path) -> Iterator[str]:
    """The app under gunicorn as the Procfile runs it, two processes, with this test's settings
    (its mode, menu, wrap-up and Twilio stand-in)."""
    port = free_port()
    passed = ("HOTLINE_MENU", "HOTLINE_WRAPUP_SECONDS", "TWILIO_API_BASE_URL")
    env = {
        **os.environ,
        **{name: str(app_settings[name]) for name in passed if name in app_settings},
        "HOTLINE_ENV": app_settings["HOTLINE_ENV"],
        "DATABASE_URL": app_settings["SQLALCHEMY_DATABASE_URI"],
        "HOTLINE_DATA_DIR": app_settings["HOTLINE_DATA_DIR"],
        "SECRET_KEY": "x",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "HOTLINE_WORKER": "off",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:ivr.ops.gunicorn_hooks", "app:app",
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(base + "/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
