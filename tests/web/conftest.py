"""Web fixtures: an agent who can sign in, and a headless chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, sync_playwright

from ivr.database import db
from ivr.models import Role
from ivr.queues.agents import create_agent
from tests.factories import CHROMIUM, use_rest


@pytest.fixture
def agent(app: Flask) -> str:
    with app.app_context():
        create_agent(db.session, "li", password="correct horse", role=Role.AGENT)
        db.session.commit()
    return "li"


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                  "--autoplay-policy=no-user-gesture-required", "--mute-audio"],
        )  # fmt: skip
        yield chromium
        chromium.close()


@pytest.fixture
def rest_calls(app_settings: dict[str, Any], rest: str, manual_queues: None) -> str:
    """Calls placed through Twilio's REST stand-in on loopback (``RestCalls.placed``)."""
    use_rest(app_settings, rest)
    return rest
