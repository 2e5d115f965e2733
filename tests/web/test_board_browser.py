"""The board in a real browser (Debian's Chromium): the caller pops up without a reload."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser
from sqlalchemy import select

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import Agent, Call, CallEvent, EntryState, Presence, QueueEntry
from ivr.queues.agents import create_agent, set_presence
from tests.factories import CHROMIUM, add_message, page_holds

pytestmark = [
    pytest.mark.usefixtures("manual_queues"),  # stays set by hand
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
NUMBER = "+8613800138000"  # add_message's caller
SHOWN = "+86 138****8000"  # as an agent without the right to see numbers sees it


def ring(app: Flask, state: EntryState) -> None:
    """The caller's stay in the product queue: offered to li, bridged with li, or over."""
    with app.app_context():
        li = db.session.scalars(select(Agent).where(Agent.name == "li")).one()
        entry = db.session.scalars(select(QueueEntry)).first()
        if entry is None:
            call = Call(sid="CA" + "7" * 32, from_number=NUMBER, language="zh",
                        menu_path="language>main>delivery>main>product")  # fmt: skip
            db.session.add(call)
            db.session.flush()
            db.session.add(CallEvent(call_id=call.id, step=3, kind="order_lookup",
                                     node="delivery", detail={"number": "20261124",
                                     "result": "found", "status": "shipped"}))  # fmt: skip
            db.session.add(Call(sid="CA" + "6" * 32, from_number=NUMBER, rating=5,
                                started_at=utcnow() - timedelta(days=2)))  # fmt: skip
            entry = QueueEntry(call_id=call.id, call_sid=call.sid, queue="product-zh",
                               topic="product", language="zh", node="product",
                               from_number=NUMBER, entered_at=utcnow() - timedelta(seconds=65))  # fmt: skip
            db.session.add(entry)
        entry.state, entry.agent_id = state, li.id
        if state == EntryState.BRIDGED:
            entry.bridged_at = entry.entered_at + timedelta(seconds=70)
        db.session.commit()


def test_the_caller_pops_up_on_the_board_without_a_reload(
    app: Flask, live_server: str, browser: Browser
) -> None:
    with app.app_context():
        li = create_agent(db.session, "li", password="correct horse",
                          languages=["zh"], topics=["product"])  # fmt: skip
        set_presence(li, Presence.AVAILABLE)
        db.session.commit()
    add_message(app, transcribed=False)
    page = browser.new_page(locale="zh-CN")
    page.add_init_script("window.BOARD_REFRESH_MS = 200;")
    page.goto(f"{live_server}/login")
    page.fill("input[name=name]", "li")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.goto(f"{live_server}/board")
    page_holds(page, "document.getElementById('presence-for').textContent !== ''")
    assert page.locator("#pop").is_hidden()
    page.evaluate("window.sameDocument = true")

    ring(app, EntryState.OFFERED)
    page_holds(page, "!document.getElementById('pop').hidden")
    pop = page.locator("#pop")
    assert pop.locator(".pop-title").inner_text() == "您的电话正在为这位来电者响铃"
    assert pop.locator(".pop-number").inner_text() == SHOWN
    assert (pop.locator(".pop-language").inner_text(), pop.locator(".pop-topic").inner_text()) == (
        "中文", "商品咨询")  # fmt: skip
    assert pop.locator(".pop-orders").inner_text() == "20261124: 已发货"
    assert pop.locator(".pop-rating").inner_text() == "5 / 5"
    assert pop.locator(".pop-earlier a").get_attribute("href") == "/calls/CA" + "6" * 32
    assert "工单 10000001" in pop.locator(".pop-links a").inner_text()
    # The wait counts on in the page, from the server's clock (the caller came 65 s ago).
    first = pop.locator(".pop-waited").inner_text()
    assert first.startswith("1:0"), first
    page_holds(page, f"document.querySelector('.pop-waited').textContent !== '{first}'", 3)

    ring(app, EntryState.BRIDGED)
    page_holds(page, "document.getElementById('pop').dataset.state === 'bridged'")
    assert pop.locator(".pop-title").inner_text() == "通话中"
    assert pop.locator(".pop-waited").inner_text() == "1:10"
    assert pop.locator(".pop-talk").is_visible()

    ring(app, EntryState.DONE)
    page_holds(page, "document.getElementById('pop').hidden")
    assert page.evaluate("window.sameDocument") is True  # never reloaded
