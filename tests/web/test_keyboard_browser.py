"""By keyboard alone, in Chromium: the skip link, then a message's transcript as one tab stop whose
arrows move word by word, Enter and Space play from the word, Shift+arrows seek 5 s."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page

from ivr.database import db
from ivr.queues.agents import create_agent
from tests.factories import CHROMIUM, add_message, page_holds

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
WORDS = [("退货", 0.1, 0.6, 0.95), ("运费", 1.0, 1.5, 0.4), ("谁", 2.0, 2.3, 0.9),
         ("承担", 2.4, 2.9, 0.9), ("谢谢", 9.0, 9.5, 0.9), ("再见", 11.0, 11.5, 0.9)]  # fmt: skip


def focused(page: Page) -> str:
    """What has the focus: a word's text, or the element's tag and class."""
    return str(page.evaluate(
        "(() => { const e = document.activeElement;"
        " return e.classList.contains('word') ? e.textContent : e.tagName + '.' + e.className; })()"
    ))  # fmt: skip


def tab_to(page: Page, selector: str, presses: int = 60) -> None:
    """Press Tab until ``selector`` has the focus."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"{selector} never took the focus; last {focused(page)}")


def test_a_message_by_keyboard_alone(app: Flask, live_server: str, browser: Browser) -> None:
    with app.app_context():
        create_agent(db.session, "li", password="correct horse")
        db.session.commit()
    ident = add_message(app, seconds=12.0, words=WORDS)
    page = browser.new_page(locale="zh-CN", viewport={"width": 1100, "height": 800})
    page.goto(f"{live_server}/login")
    page.keyboard.type("li")  # the name field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type("correct horse")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}/inbox")
    page.goto(f"{live_server}/inbox/{ident}")
    page.wait_for_selector("#player")

    # The first Tab reaches the skip link, shown; Enter takes the focus past the menu.
    page.keyboard.press("Tab")
    skip = page.locator("a.skip")
    assert focused(page) == "A.skip" and skip.bounding_box()["y"] >= 0  # type: ignore[index]
    page.screenshot(path="/tmp/a11y_skip.png")
    page.keyboard.press("Enter")
    assert focused(page) == "MAIN."

    # The player's own controls (play, time, volume… inside the element), then the transcript:
    # one stop, on its first word.
    tab_to(page, "#player")
    stops = 1
    while page.evaluate("document.activeElement.id") == "player":
        page.keyboard.press("Tab")
        stops += 1
    assert stops >= 3 and focused(page) == "退货", stops
    assert page.locator("#transcript .word[tabindex='0']").count() == 1
    assert page.locator("#transcript").get_attribute("role") == "toolbar"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert focused(page) == "谁"
    page.keyboard.press("ArrowLeft")
    assert focused(page) == "运费"
    page.keyboard.press("End")
    assert focused(page) == "再见"
    page.keyboard.press("Home")
    assert focused(page) == "退货"
    # Shift+Tab leaves the transcript at once; Tab comes back to the same word.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "player"  # its last control
    page.keyboard.press("Tab")
    assert focused(page) == "运费"

    # Enter plays from the word; Space pauses; Space again plays from the focused word.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    page_holds(page, "!document.getElementById('player').paused", 5)
    at = float(page.evaluate("document.getElementById('player').currentTime"))
    assert 2.0 <= at < 3.5, at
    page.keyboard.press(" ")
    assert page.evaluate("document.getElementById('player').paused")
    page.screenshot(path="/tmp/a11y_transcript.png")

    # Shift+Right seeks 5 s on, and the focus goes to the word spoken there.
    page.evaluate("document.getElementById('player').currentTime = 4")
    page.keyboard.press("Shift+ArrowRight")
    at = float(page.evaluate("document.getElementById('player').currentTime"))
    assert 8.9 <= at <= 9.1, at
    assert focused(page) == "谢谢"
    page.keyboard.press("Shift+ArrowLeft")
    at = float(page.evaluate("document.getElementById('player').currentTime"))
    assert 3.9 <= at <= 4.1, at
    assert focused(page) == "承担"
    assert page.evaluate("document.getElementById('player').paused")  # seeking does not play
    page.keyboard.press(" ")
    page_holds(page, "!document.getElementById('player').paused", 5)
    page.keyboard.press(" ")
    # No key on the way followed a link or sent a form: still the message (the skip link's #main).
    assert page.url == f"{live_server}/inbox/{ident}#main"
