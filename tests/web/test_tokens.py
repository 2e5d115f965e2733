"""Supervisors manage API tokens in the web app; agents may not."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from ivr.database import db
from ivr.models import Role
from ivr.queues.agents import create_agent
from tests.factories import csrf, sign_in


def test_supervisor_creates_uses_and_revokes_a_token(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        create_agent(db.session, "li", password="correct horse")
        db.session.commit()
    sign_in(client, "li")
    assert client.get("/tokens").status_code == 403
    client.post("/logout", data={"csrf_token": csrf(client, "/inbox")})
    sign_in(client, "zhang")
    page = client.post("/tokens", data={"csrf_token": csrf(client, "/tokens"), "name": "crm"},
                       follow_redirects=True)  # fmt: skip
    token = re.search(r'<code id="new-token">([^<]+)</code>', page.get_data(as_text=True))
    assert token
    api = app.test_client()
    auth = {"Authorization": f"Bearer {token.group(1)}"}
    assert api.get("/api/v1/calls", headers=auth).status_code == 200
    listing = client.get("/tokens").get_data(as_text=True)
    assert token.group(1) not in listing  # shown once only
    ident = re.search(r'data-token="(\d+)"', listing)
    assert ident
    client.post(f"/tokens/{ident.group(1)}/revoke",
                data={"csrf_token": csrf(client, "/tokens"), "confirmed": "1"})  # fmt: skip
    assert api.get("/api/v1/calls", headers=auth).status_code == 401
