"""In a real browser (Debian's Chromium through Playwright): sign in, find, play, follow, answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser
from sqlalchemy import update

from ivr.database import db
from ivr.models import Agent, Presence, Role
from ivr.queues.agents import create_agent
from tests.factories import CHROMIUM, add_message, page_holds

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


def test_agent_finds_plays_follows_and_answers_a_message(
    app: Flask, live_server: str, browser: Browser, tmp_path: Path
) -> None:
    shots = tmp_path  # the README's pictures come from docs/screenshots.py, on the demo's day
    with app.app_context():
        create_agent(db.session, "li", password="correct horse")
        db.session.commit()
    ident = add_message(app, seconds=3.0, words=[("退货", 0.1, 0.6, 0.95), ("运费", 1.0, 1.5, 0.4),
                                                 ("谁", 2.0, 2.3, 0.9), ("承担", 2.4, 2.9, 0.9)])  # fmt: skip
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    page.goto(f"{live_server}/inbox")
    page.fill("input[name=name]", "li")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.fill("input[name=q]", "运费")
    page.click("text=Filter")
    page.wait_for_selector(f"tr[data-id='{ident}']")
    page.screenshot(path=str(shots / "inbox.png"))
    page.click(f"tr[data-id='{ident}'] a")
    page.wait_for_selector("#player")
    low = page.locator(".word.low")
    assert low.count() == 1 and low.inner_text() == "运费"
    page.evaluate("document.getElementById('player').play()")
    page_holds(page, "document.querySelector('.word.now') !== null", 10)
    first = page.locator(".word.now").inner_text()
    page_holds(
        page,
        f"document.querySelector('.word.now') && document.querySelector('.word.now').textContent !== '{first}'",
        10,
    )
    page.locator(".word", has_text="谁").click()
    page_holds(page, "document.getElementById('player').currentTime >= 1.95", 5)
    position = page.evaluate("document.getElementById('player').currentTime")
    assert 1.95 <= position < 3.0
    page.evaluate("document.getElementById('player').pause()")
    page.screenshot(path=str(shots / "message.png"))
    page.click("text=Mark answered")
    page.wait_for_selector(".status.answered")
    assert page.locator("h1 .status").inner_text() == "answered"


def test_new_message_appears_without_reload(app: Flask, live_server: str, browser: Browser) -> None:
    with app.app_context():
        create_agent(db.session, "li", password="correct horse")
        db.session.commit()
    add_message(app, n=1)
    page = browser.new_page()
    page.add_init_script("window.INBOX_REFRESH_MS = 300")
    page.goto(f"{live_server}/login")
    page.fill("input[name=name]", "li")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.wait_for_selector("tr[data-id]")
    assert page.locator("tr[data-id]").count() == 1
    newer = add_message(app, n=2)
    page.wait_for_selector(f"tr[data-id='{newer}']", timeout=10_000)
    assert page.locator("tr[data-id]").count() == 2


def test_switching_language_in_the_browser(app: Flask, live_server: str, browser: Browser) -> None:
    with app.app_context():
        create_agent(db.session, "li", password="correct horse")
        db.session.commit()
    page = browser.new_page(locale="zh-CN")
    page.goto(f"{live_server}/login")
    assert page.locator("h1").inner_text() == "登录"
    page.fill("input[name=name]", "li")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    assert page.locator("nav a").first.inner_text() == "留言箱"
    page.click("a.lang")
    page.wait_for_selector("nav a:text('Inbox')")


def test_supervisor_pages_render_in_chinese(
    app: Flask, live_server: str, browser: Browser, tmp_path: Path
) -> None:
    shots = tmp_path  # the README's pictures come from docs/screenshots.py, on the demo's day
    with app.app_context():
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR,
                     languages=["zh", "en"], topics=["product", "after_sales"])  # fmt: skip
        db.session.commit()
    add_message(app)
    page = browser.new_page(locale="zh-CN", viewport={"width": 1100, "height": 700})
    page.goto(f"{live_server}/login")
    page.fill("input[name=name]", "zhang")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.goto(f"{live_server}/board")
    assert page.locator("button.big").inner_text() == "接听下一位"
    page.screenshot(path=str(shots / "board.png"))
    page.goto(f"{live_server}/figures")
    assert page.locator("#calls").inner_text() == "0"
    assert page.locator("#calls-per-hour rect.hit").count() == 24
    assert "日期和小时按 Asia/Shanghai 时区计算。" in page.locator("main").inner_text()
    page.screenshot(path=str(shots / "figures.png"), full_page=True)


WATCH_CSP = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def test_pages_work_under_the_content_security_policy(
    app: Flask, live_server: str, browser: Browser
) -> None:
    with app.app_context():
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR,
                     languages=["zh", "en"], topics=["product", "delivery"])  # fmt: skip
        db.session.commit()
    ident = add_message(app, seconds=2.0, words=[("退货", 0.1, 0.6, 0.95), ("运费", 1.0, 1.5, 0.9)])
    page = browser.new_page()
    csp_errors: list[str] = []
    page.on(
        "console", lambda m: csp_errors.append(m.text) if "Content Security" in m.text else None
    )
    page.on("pageerror", lambda exc: csp_errors.append(str(exc)))
    page.add_init_script(WATCH_CSP + "window.BOARD_REFRESH_MS = 200;")

    def violations() -> list[str]:
        return list(page.evaluate("window.__violations")) + csp_errors

    page.goto(f"{live_server}/login")
    page.fill("input[name=name]", "zhang")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.goto(f"{live_server}/inbox/{ident}")
    page.evaluate("document.getElementById('player').play()")
    page_holds(page, "document.querySelector('.word.now') !== null", 10)
    page.click("text=Mark answered")
    page.wait_for_selector(".status.answered")
    assert violations() == []

    # The board follows the queues by itself: an agent coming free shows without a reload.
    page.goto(f"{live_server}/board")
    available = "[...document.querySelectorAll('#queues .available')]"
    assert page.evaluate(f"{available}.every((c) => c.textContent === '0')")
    with app.app_context():
        db.session.execute(update(Agent).values(presence=Presence.AVAILABLE))
        db.session.commit()
    page_holds(page, f"{available}.some((c) => c.textContent === '1')", 10)
    # And each agent's presence with it.
    page_holds(page, "document.querySelector('#agents .presence-now[data-presence=available]')"
                     " !== null", 10)  # fmt: skip
    assert violations() == []

    page.goto(f"{live_server}/tokens")
    page.fill("input[name=name]", "prometheus")
    page.uncheck("input[value=read]")
    page.check("input[value=metrics]")
    page.click("text=Create token")
    assert page.locator("tr[data-scopes='metrics'] td").first.inner_text() == "prometheus"
    page.goto(f"{live_server}/audit")
    page.select_option("select[name=action]", "token_create")
    page.click("text=Show")
    assert page.locator("#audit tr[data-action]").count() == 1
    page.goto(f"{live_server}/figures")
    page.wait_for_selector(".chart svg.area")
    assert violations() == []

    # The watch itself works: an inline script slipped into the page is refused and seen.
    page.evaluate(
        "document.body.appendChild(Object.assign(document.createElement('script'),"
        " {textContent: 'window.ran = true'}))"
    )
    page_holds(page, "window.__violations.length > 0", 5)
    assert page.evaluate("window.ran === undefined")
