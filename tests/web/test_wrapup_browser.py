"""The wrap-up form in a real browser: the open board shows it when a talk ends, by itself."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser
from sqlalchemy import select

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import Agent, Call, EntryState, Outcome, Presence, QueueEntry, Wrapup
from ivr.queues.agents import create_agent, finish_call, set_presence
from tests.factories import CHROMIUM

pytestmark = [
    pytest.mark.usefixtures("manual_queues"),  # stays set by hand
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
SID = "CA" + "5" * 32
WATCH_CSP = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
window.BOARD_REFRESH_MS = 200;
"""


def test_the_board_shows_the_form_when_a_talk_ends_and_saving_frees_the_agent(
    app: Flask, live_server: str, browser: Browser
) -> None:
    with app.app_context():
        create_agent(db.session, "li", password="correct horse", languages=["zh"],
                     topics=["product"])  # fmt: skip
        db.session.commit()
    page = browser.new_page()
    page.add_init_script(WATCH_CSP)
    page.goto(f"{live_server}/login")
    page.fill("input[name=name]", "li")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.goto(f"{live_server}/board")
    assert page.locator("#wrapup").count() == 0

    with app.app_context():  # a talk with li has just ended: li is wrapping up
        agent = db.session.scalars(select(Agent)).one()
        call = Call(sid=SID, from_number="+8613800002222", status="completed",
                    outcome=Outcome.AGENT, language="zh")  # fmt: skip
        db.session.add(call)
        db.session.flush()
        now = utcnow()
        db.session.add(QueueEntry(
            call_id=call.id, call_sid=SID, queue="product-zh", topic="product", language="zh",
            node="product", state=EntryState.DONE, agent_id=agent.id, offered_at=now,
            bridged_at=now, entered_at=now - timedelta(seconds=30),
        ))  # fmt: skip
        set_presence(agent, Presence.BUSY, "talking")  # as they were while talking
        finish_call(agent, 600)
        db.session.commit()

    page.wait_for_selector("#wrapup", timeout=10_000)  # the board shows it by itself
    assert page.locator("#wrapup").get_attribute("data-call") == SID
    page.select_option("select[name=disposition]", "follow_up")
    page.fill("textarea[name=note]", "call back tomorrow")
    page.click("#wrapup button[type=submit]")
    page.wait_for_selector("text=Wrap-up saved.")
    assert page.locator("#wrapup").count() == 0
    assert page.evaluate("window.__violations") == []
    with app.app_context():
        row = db.session.scalars(select(Wrapup)).one()
        assert (row.disposition, row.note) == ("follow_up", "call back tomorrow")
        agent = db.session.scalars(select(Agent)).one()
        assert agent.wrapup_until is not None and agent.wrapup_until <= utcnow()
