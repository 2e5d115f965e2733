"""The supervisors' erasure page in a real browser, in Chinese and English and on a phone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser

from ivr.database import db
from ivr.models import Role
from ivr.queues.agents import create_agent
from tests.factories import CHROMIUM, add_message

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


@pytest.mark.parametrize(("locale", "width"), [("zh-CN", 390), ("en", 1100)])
def test_a_supervisor_erases_a_caller_after_seeing_how_much(
    app: Flask, live_server: str, browser: Browser, tmp_path: Path, locale: str, width: int
) -> None:
    shots = Path(os.environ.get("HOTLINE_SCREENSHOTS", tmp_path))
    with app.app_context():
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        db.session.commit()
    add_message(app)  # from +8613800138000
    context = browser.new_context(viewport={"width": width, "height": 800}, locale=locale)
    page = context.new_page()
    page.goto(f"{live_server}/privacy/erase")
    page.fill("input[name=name]", "zhang")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.fill("input[name=number]", "+86 138-0013-8000")
    page.click("#erase button[type=submit]")
    page.wait_for_selector("li[data-kind=messages]")
    text = page.inner_text("#erase")
    assert "+86 138****8000" in text and "13800138000" not in page.content()
    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert fits, "the confirmation fits the screen without scrolling sideways"
    page.screenshot(path=str(shots / f"erase-{locale}-{width}.png"), full_page=True)
    page.click("#erase button.warn")
    page.wait_for_selector(".flash")
    assert "+86 138****8000" in page.inner_text("main")
    page.screenshot(path=str(shots / f"erased-{locale}-{width}.png"), full_page=True)
    context.close()
