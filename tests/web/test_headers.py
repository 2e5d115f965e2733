"""Every answer carries the security headers; database values on pages are always escaped."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.database import db
from ivr.models import Call, Role
from ivr.ops.gunicorn_hooks import warm
from ivr.queues.agents import create_agent
from tests.factories import assert_protected, auth, make_token, sign_in


def test_every_kind_of_answer_carries_the_headers(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        db.session.commit()
    token = make_token(app)
    assert_protected(client.get("/login").headers)
    sign_in(client, "zhang")
    for path in ("/inbox", "/board", "/board.json", "/calls", "/figures", "/figures/agents",
                 "/export/agents.csv", "/tokens", "/audit",
                 "/me", "/static/style.css", "/healthz", "/nowhere"):  # fmt: skip
        with client.get(path) as reply:
            assert_protected(reply.headers)
    assert_protected(client.get("/api/v1/calls", headers=auth(token)).headers)
    assert_protected(client.get("/api/v1/calls").headers)  # a 401 too


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_database_values_are_escaped_on_pages(app: Flask, client: FlaskClient, lang: str) -> None:
    with app.app_context():
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        db.session.add(Call(sid="CA" + "1" * 32, status="<b id=x>busy</b>"))
        db.session.add(Call(sid="CA" + "2" * 32, status="completed"))
        db.session.commit()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    sign_in(client, "zhang")
    for path in ("/calls", "/calls/CA" + "1" * 32):
        html = client.get(path).get_data(as_text=True)
        assert "<b id=x>" not in html and "&lt;b id=x&gt;busy&lt;/b&gt;" in html
    listing = client.get("/calls").get_data(as_text=True)
    assert ("已结束" if lang == "zh" else "completed") in listing  # known values still translated


def test_a_web_process_compiles_every_page_before_its_first_request(app: Flask) -> None:
    # gunicorn's post_worker_init: a person's first page in each web process is not the one
    # that compiles its templates.
    pages = set(app.jinja_env.list_templates(extensions=["html"]))
    assert {"inbox.html", "base.html"} <= pages
    warm(app)
    compiled = {template.name for template in app.jinja_env.cache.values()}  # type: ignore[union-attr]
    assert pages <= compiled
