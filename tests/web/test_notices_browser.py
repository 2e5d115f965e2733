"""Notices in Chromium: a message arriving while the inbox is open, and a caller offered to the
agent's phone while the board is open, mark the tab's title until the agent looks; with the
switch on, a tone sounds and a desktop notice is shown (window.Notification observed)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import Call, EntryState, Presence, QueueEntry
from ivr.queues.agents import create_agent, set_presence
from tests.factories import CHROMIUM, add_message, page_holds

pytestmark = [
    pytest.mark.usefixtures("manual_queues"),  # the offer is set by hand
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
# The desktop notices and the tones the page makes, seen from the page (an init script goes
# through DevTools: the pages' Content-Security-Policy does not apply to it).
OBSERVE = """
window.NOTICES_REFRESH_MS = 200;
window.BOARD_REFRESH_MS = 200;
window.__notices = [];
window.__tones = 0;
const Real = window.Notification;
window.Notification = function (title, options) {
  window.__notices.push({ title, body: (options || {}).body || "" });
  return new Real(title, options);
};
Object.defineProperty(window.Notification, "permission", {
  get: () => window.__permission || Real.permission,
});
window.Notification.requestPermission = () => Real.requestPermission();
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) {
  window.__tones += 1;
  return start.apply(this, args);
};
"""


def offer(app: Flask, agent_id: int) -> None:
    """A caller in the product queue whose offer rings the agent's phone."""
    with app.app_context():
        if entry := db.session.scalar(select(QueueEntry)):  # offered again
            entry.state, entry.agent_id = EntryState.OFFERED, agent_id
            db.session.commit()
            return
        call = Call(sid="CA" + "7" * 32, from_number="+8613800138000", language="zh")
        db.session.add(call)
        db.session.flush()
        db.session.add(QueueEntry(call_id=call.id, call_sid=call.sid, queue="product-zh",
                                  topic="product", language="zh", node="product",
                                  from_number=call.from_number, state=EntryState.OFFERED,
                                  agent_id=agent_id, entered_at=utcnow() - timedelta(seconds=20)))  # fmt: skip
        db.session.commit()


def title(page: Page) -> str:
    return str(page.evaluate("document.title"))


def test_a_new_message_and_an_offer_are_noticed(
    app: Flask, live_server: str, browser: Browser
) -> None:
    with app.app_context():
        li = create_agent(db.session, "li", password="correct horse",
                          languages=["zh"], topics=["product"])  # fmt: skip
        set_presence(li, Presence.AVAILABLE)
        db.session.commit()
        li_id = li.id
    add_message(app, n=1)
    context = browser.new_context(locale="zh-CN")
    context.grant_permissions(["notifications"], origin=live_server)
    context.add_init_script(OBSERVE)
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.fill("input[name=name]", "li")
    page.fill("input[name=password]", "correct horse")
    with page.expect_response(lambda r: "/inbox/latest.json" in r.url):
        page.click("button[type=submit]")
    assert title(page) == "留言箱 · hotline"

    # Switch off (the default): the title tells, nothing sounds or pops up.
    assert not page.is_checked("#notices-switch")
    add_message(app, n=2)
    page_holds(page, "document.title.startsWith('(1) ')", 10)
    assert title(page) == "(1) 新留言 · 留言箱 · hotline"
    two_more = [add_message(app, n=3), add_message(app, n=4)]
    page_holds(page, "document.title.startsWith('(3) ')", 10)
    assert page.evaluate("[window.__notices.length, window.__tones]") == [0, 0]
    # Looked at (a key pressed on the page): the title is the page's again.
    page.keyboard.press("Shift")
    assert title(page) == "留言箱 · hotline"
    page.wait_for_selector(f"tr[data-id='{two_more[1]}']")  # the list has them too (inbox.js)

    # Switched on: permission (granted here) is asked, a sample tone sounds, the choice is kept.
    page.check("#notices-switch")
    page_holds(page, "window.__tones === 2", 5)  # two notes
    assert page.evaluate("localStorage.getItem('hotline.notices')") == "on"
    assert page.locator(".notices-status").inner_text() == ""
    add_message(app, n=5)
    page_holds(page, "window.__notices.length === 1", 10)
    assert page.evaluate("window.__notices") == [{"title": "新留言", "body": "留言箱 · hotline"}]
    assert title(page) == "(1) 新留言 · 留言箱 · hotline"
    assert page.evaluate("window.__tones") == 4

    # On the board, the caller offered to li: title, tone and notice say so, once.
    page.goto(f"{live_server}/board")
    assert page.is_checked("#notices-switch")  # kept in this browser
    assert title(page) == "实时看板 · hotline"
    offer(app, li_id)
    page_holds(page, "!document.getElementById('pop').hidden", 10)
    page_holds(page, "window.__notices.length === 1", 5)
    assert page.evaluate("window.__notices") == [
        {"title": "来电找您", "body": "+86 138****8000 · 商品咨询"}
    ]
    assert title(page) == "(1) 来电找您 · 实时看板 · hotline"
    page.wait_for_timeout(600)  # three more polls of the same offer
    assert page.evaluate("window.__notices.length") == 1
    page.screenshot(path="/tmp/a11y_board_notice.png")
    # Unanswered, the caller waits again; offered to li once more, the ring is told again.
    with app.app_context():
        entry = db.session.scalars(select(QueueEntry)).one()
        entry.state, entry.agent_id = EntryState.WAITING, None
        db.session.commit()
    page_holds(page, "document.getElementById('pop').hidden", 10)
    offer(app, li_id)
    page_holds(page, "window.__notices.length === 2", 10)
    assert title(page) == "(2) 来电找您 · 实时看板 · hotline"

    # Switched off: the next message changes the title only.
    page.mouse.move(10, 10)
    assert title(page) == "实时看板 · hotline"
    page.uncheck("#notices-switch")
    add_message(app, n=6)
    page_holds(page, "document.title.startsWith('(1) ')", 10)
    assert title(page) == "(1) 新留言 · 实时看板 · hotline"
    assert page.evaluate("window.__notices.length") == 2  # the two rings
    context.close()


def test_a_refused_permission_is_said_and_the_tone_stays(
    app: Flask, live_server: str, browser: Browser
) -> None:
    with app.app_context():
        create_agent(db.session, "li", password="correct horse")
        db.session.commit()
    context = browser.new_context(locale="zh-CN")
    context.add_init_script(OBSERVE + "window.__permission = 'denied';")
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.fill("input[name=name]", "li")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.check("#notices-switch")
    page_holds(page, "document.querySelector('.notices-status').textContent !== ''", 5)
    assert page.locator(".notices-status").inner_text() == (
        "此浏览器不允许本站显示桌面通知：只会播放提示音。"
    )
    add_message(app)
    page_holds(page, "document.title.startsWith('(1) ')", 10)
    page_holds(page, "window.__tones === 4", 5)  # the sample and the message's
    assert page.evaluate("window.__notices.length") == 0
    context.close()
