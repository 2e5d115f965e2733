"""The supervisors' live page in a real browser: it redraws itself from /live.json, and the
forms it draws work."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser
from sqlalchemy import select

from ivr.database import db
from ivr.models import Agent, Call, EntryState, Presence, QueueEntry, Role
from ivr.queues.agents import create_agent
from tests.factories import CHROMIUM, page_holds

pytestmark = [
    pytest.mark.usefixtures("manual_queues"),  # stays set by hand
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


def test_the_live_page_shows_a_new_caller_and_its_redrawn_forms_work(
    app: Flask, live_server: str, browser: Browser
) -> None:
    with app.app_context():
        create_agent(db.session, "boss", password="password1", role=Role.SUPERVISOR)
        create_agent(db.session, "li", password="password1", languages=["zh"], topics=["product"])
        db.session.commit()
    page = browser.new_page()
    page.goto(f"{live_server}/live")
    page.fill("input[name=name]", "boss")
    page.fill("input[name=password]", "password1")
    page.click("button[type=submit]")
    page.wait_for_selector("#live-agents")
    assert page.locator("#live-empty").is_visible()
    with app.app_context():
        call = Call(sid="CA" + "5" * 32, from_number="+8613800000005", to_number="+864000")
        db.session.add(call)
        db.session.flush()
        db.session.add(QueueEntry(call_id=call.id, call_sid=call.sid, queue="product-zh",
                                  topic="product", language="zh", node="product",
                                  from_number=call.from_number, state=EntryState.WAITING))  # fmt: skip
        db.session.commit()
    # No reload: the next refresh draws the caller, and the clock runs on.
    page_holds(page, "document.querySelector('#live-waiting tbody tr') !== null", 5)
    row = page.locator("#live-waiting tbody tr")
    assert "+8613800000005" in row.inner_text() and "product question · Chinese" in row.inner_text()
    assert not page.locator("#live-empty").is_visible()
    # A form the script drew carries the CSRF token: setting li's presence goes through.
    li = page.locator("#live-agents tr", has_text="li")
    li.locator("button[value=available]").click()
    page.wait_for_selector("p.flash")
    assert "li is available now." in page.locator("p.flash").inner_text()
    with app.app_context():
        agent = db.session.scalars(select(Agent).where(Agent.name == "li")).one()
        assert agent.presence == Presence.AVAILABLE
