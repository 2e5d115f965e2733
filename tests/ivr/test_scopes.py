"""API tokens carry scopes: read, write, metrics; a token used outside them gets a 403."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from app import MIGRATIONS, create_app
from ivr.database import db
from ivr.models import Role
from ivr.queues.agents import create_agent
from tests.conftest import database_url, settings
from tests.factories import add_message, auth, csrf, make_token, sign_in


def test_a_token_made_without_scopes_only_reads(app: Flask, client: FlaskClient) -> None:
    result = app.test_cli_runner().invoke(args=["tokens", "create", "crm"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    ident = add_message(app)
    with app.app_context():
        create_agent(db.session, "li", password="correct horse")
        db.session.commit()
    for path in ("/api/v1/calls", "/api/v1/voicemails", f"/api/v1/voicemails/{ident}/audio",
                 "/api/v1/queues", "/api/v1/agents", "/api/v1/stats"):  # fmt: skip
        with client.get(path, headers=auth(token)) as reply:
            assert reply.status_code == 200, path
    refused = [
        client.patch(f"/api/v1/voicemails/{ident}", json={"case_status": "answered"},
                     headers=auth(token)),
        client.post("/api/v1/agents/li/presence", json={"presence": "available"},
                    headers=auth(token)),
        client.post("/api/v1/agents/li/take-next", headers=auth(token)),
    ]  # fmt: skip
    for reply in refused:
        assert reply.status_code == 403
        assert "write scope" in reply.json["error"]["message"]
    metrics = client.get("/metrics", headers=auth(token))
    assert metrics.status_code == 403 and "metrics scope" in metrics.json["error"]["message"]
    assert client.get(f"/api/v1/voicemails/{ident}", headers=auth(token)).json["case_status"] == (
        "received"
    )


def test_a_metrics_token_scrapes_and_reads_nothing_else(app: Flask, client: FlaskClient) -> None:
    token = make_token(app, "prometheus", "metrics")
    assert client.get("/metrics", headers=auth(token)).status_code == 200
    reply = client.get("/api/v1/calls", headers=auth(token))
    assert reply.status_code == 403 and "read scope" in reply.json["error"]["message"]


def test_a_write_token_moves_a_case_on(app: Flask, client: FlaskClient) -> None:
    token = make_token(app, "crm", "read,write")
    ident = add_message(app)
    reply = client.patch(f"/api/v1/voicemails/{ident}", json={"case_status": "answered"},
                         headers=auth(token))  # fmt: skip
    assert reply.status_code == 200 and reply.json["case_status"] == "answered"


@pytest.mark.parametrize("scopes", ["admin", "read,all", ",", ""])
def test_unknown_scopes_are_refused_by_the_cli(app: Flask, scopes: str) -> None:
    result = app.test_cli_runner().invoke(args=["tokens", "create", "crm", "--scopes", scopes])
    assert result.exit_code == 2
    assert "read, write, metrics" in result.output


def test_the_tokens_page_offers_and_shows_scopes(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        db.session.commit()
    full = make_token(app, "old")
    sign_in(client, "zhang")
    page = client.post("/tokens", data={"csrf_token": csrf(client, "/tokens"), "name": "grafana",
                                        "scopes": ["metrics"]}, follow_redirects=True)  # fmt: skip
    html = page.get_data(as_text=True)
    token = re.search(r'<code id="new-token">([^<]+)</code>', html)
    assert token
    assert app.test_client().get("/metrics", headers=auth(token.group(1))).status_code == 200
    assert app.test_client().get("/api/v1/calls", headers=auth(token.group(1))).status_code == 403
    assert client.get("/api/v1/calls", headers=auth(full)).status_code == 200
    rows = dict(re.findall(r'data-scopes="([^"]+)"><td>([^<]+)</td>', html))
    assert rows == {"metrics": "grafana", "read,write,metrics": "old"}
    assert html.count('class="status full"') == 1
    bad = client.post("/tokens", data={"csrf_token": csrf(client, "/tokens"), "name": "x",
                                       "scopes": ["root"]}, follow_redirects=True)  # fmt: skip
    assert "Choose scopes among those offered." in bad.get_data(as_text=True)


def empty_database(tmp_path: Path) -> str:
    """A database of its own, empty: a SQLite file, or a fresh PostgreSQL one beside the tests'."""
    url = database_url(tmp_path).replace("postgresql://", "postgresql+psycopg://", 1)
    if not url.startswith("postgresql"):
        return url
    base, _, name = url.rpartition("/")
    fresh = f"{name.split('?')[0]}_before_scopes_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{fresh}"'))
        conn.execute(text(f'CREATE DATABASE "{fresh}"'))
    engine.dispose()
    return f"{base}/{fresh}"


def test_tokens_made_before_scopes_keep_every_power(tmp_path: Path) -> None:
    """The migration on a database holding a token from before: it becomes a full token."""
    url = empty_database(tmp_path)
    app = create_app(settings(tmp_path / "data", url))
    with app.app_context():
        upgrade(directory=str(MIGRATIONS), revision="a3f9d2c7e1b4")  # before scopes
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO api_tokens (name, token_hash, created_at) "
                              "VALUES ('crm', 'x', '2026-11-01 00:00:00')"))  # fmt: skip
        upgrade(directory=str(MIGRATIONS))
        db.engine.dispose()
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT scopes FROM api_tokens")) == "read,write,metrics"
    engine.dispose()


def test_the_openapi_description_names_each_operations_scope(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert paths["/calls"]["get"]["security"] == [{"bearer": ["read"]}]
    assert paths["/voicemails/{id}"]["patch"]["security"] == [{"bearer": ["write"]}]
    assert "403" in paths["/agents/{name}/presence"]["post"]["responses"]
