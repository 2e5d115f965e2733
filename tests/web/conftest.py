"""Web fixtures: an agent who can sign in."""

from __future__ import annotations

import pytest
from flask import Flask

from ivr.agents import create_agent
from ivr.extensions import db
from ivr.models import Role


@pytest.fixture
def agent(app: Flask) -> str:
    with app.app_context():
        create_agent(db.session, "li", password="correct horse", role=Role.AGENT)
        db.session.commit()
    return "li"
