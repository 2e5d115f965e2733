"""In Chromium: the time-zone list on /me narrows as one types, and without scripts too."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from ivr.database import db
from ivr.models import Agent
from ivr.queues.agents import create_agent
from tests.factories import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
SHOWN = (
    "[...document.querySelectorAll('#timezone option')].filter(o => !o.hidden).map(o => o.value)"
)
GROUPS = (
    "[...document.querySelectorAll('#timezone optgroup')].filter(g => !g.hidden).map(g => g.label)"
)


def signed_in_page(browser: Browser, live_server: str, *, scripts: bool = True) -> Page:
    context = browser.new_context(locale="zh-CN", java_script_enabled=scripts,
                                  viewport={"width": 1100, "height": 800})  # fmt: skip
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.fill("input[name=name]", "li")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.goto(f"{live_server}/me")
    return page


def zone_of_li(app: Flask) -> str:
    with app.app_context():
        return db.session.scalars(select(Agent.timezone).where(Agent.name == "li")).one()


def test_typing_narrows_the_zones_and_chooses_the_first_match(
    app: Flask, live_server: str, browser: Browser, tmp_path: Path
) -> None:
    with app.app_context():
        create_agent(db.session, "li", password="correct horse")
        db.session.commit()
    page = signed_in_page(browser, live_server)
    assert page.evaluate(GROUPS)[:3] == ["常用", "亚洲", "欧洲"]
    assert page.input_value("#timezone") == "Asia/Shanghai"
    page.fill("#zone-search", "柏林")
    assert page.evaluate(SHOWN) == ["Asia/Shanghai", "Europe/Berlin"]  # one's own stays listed
    assert page.input_value("#timezone") == "Europe/Berlin"
    page.fill("#zone-search", "buenos")
    assert page.evaluate(SHOWN) == ["Asia/Shanghai", "America/Argentina/Buenos_Aires"]
    assert page.evaluate(GROUPS) == ["常用", "美洲"]
    page.fill("#zone-search", "kolk")
    page.keyboard.press("Enter")  # narrowed here already: no trip to the server
    assert page.url.endswith("/me")
    assert page.input_value("#timezone") == "Asia/Kolkata"
    page.screenshot(path=str(tmp_path / "zones.png"))
    page.click("#timezone + button")
    page.wait_for_selector("text=已保存。")
    assert zone_of_li(app) == "Asia/Kolkata"
    page.fill("#zone-search", "nowhere at all")
    assert page.is_visible("#zone-none")
    assert (
        page.evaluate(SHOWN) == ["Asia/Kolkata"] and page.input_value("#timezone") == "Asia/Kolkata"
    )
    page.fill("#zone-search", "")
    assert len(page.evaluate(SHOWN)) > 400 and not page.is_visible("#zone-none")
    page.screenshot(path=str(tmp_path / "zones-all.png"))

    plain = signed_in_page(browser, live_server, scripts=False)
    plain.fill("#zone-search", "sydney")
    plain.click("#zone-find button")
    plain.wait_for_url("**/me?find=sydney")
    assert plain.evaluate(SHOWN) == ["Australia/Sydney", "Asia/Kolkata"]  # common, then Asia
    plain.select_option("#timezone", "Australia/Sydney")
    plain.click("#timezone + button")
    plain.wait_for_selector("text=已保存。")
    assert zone_of_li(app) == "Australia/Sydney"
