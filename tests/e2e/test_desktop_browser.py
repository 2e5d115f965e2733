"""The agent's desktop in a real browser (Debian's Chromium) on a real conversation through the
offline Twilio: the pop shows the caller, its buttons hold and hang up, the wrap-up follows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, expect

from ivr.database import db
from ivr.models import Presence
from ivr.queues.agents import create_agent, set_presence
from ivr.simulator import Caller, Press, Simulator
from ivr.simulator.agents import Agent as ScriptedAgent
from tests.e2e.test_conversation import participant
from tests.factories import CHROMIUM, page_holds, until
from tests.web.conftest import browser  # noqa: F401  (the fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
LI = "+8613900000001"


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    app_settings.update(HOTLINE_WRAPUP_SECONDS=600)  # the wrap-up form stays to be filled
    return app_settings


def test_the_pop_s_buttons_hold_and_hang_up_a_real_conversation(
    app: Flask,
    live_server: str,
    live_phone: Simulator,
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    with app.app_context():
        li = create_agent(db.session, "li", password="correct horse", phone=LI,
                          languages=["zh"], topics=["product"])  # fmt: skip
        set_presence(li, Presence.AVAILABLE)
        db.session.commit()
    live_phone.add_agent(ScriptedAgent(LI, answer_after=1.0, talk_seconds=3600))
    page = browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page.add_init_script("window.BOARD_REFRESH_MS = 200;")
    page.goto(f"{live_server}/login")
    page.fill("input[name=name]", "li")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.goto(f"{live_server}/board")
    assert page.locator(".call-controls").is_hidden()

    handle = live_phone.start(Caller(number="+8613800000001", script=[Press("1"), Press("1")]))
    page_holds(page, "document.getElementById('pop').dataset.state === 'bridged'")
    until(lambda: LI in handle.run.result.heard_in_conference)
    page_holds(
        page, "getComputedStyle(document.querySelector('.call-controls')).display !== 'none'"
    )
    assert page.locator("#pop .pop-number").inner_text() == "+86 138****0001"  # masked for li
    page.screenshot(path=str(tmp_path / "talking.png"), full_page=True)

    page.click("#pop .call-controls button:text-is('保持')")
    # The click posts the form; the board it redirects to says so (waited for: under load the
    # old page is still there when the click returns).
    expect(page.locator("main")).to_contain_text("已完成：来电者已保持。")
    caller = participant(live_phone, handle.sid)
    until(lambda: caller() is not None and caller().hold)  # type: ignore[union-attr]
    page_holds(page, "document.getElementById('pop').dataset.state === 'bridged'")
    page.click("#pop .call-controls button:text-is('恢复')")
    until(lambda: caller() is not None and not caller().hold)  # type: ignore[union-attr]
    page_holds(page, "document.getElementById('pop').dataset.state === 'bridged'")
    page.click("#pop .call-controls button:text-is('挂断')")
    result = handle.result(timeout=60)
    assert result.errors == [], result.transcript_text()
    assert "请为本次服务评分，非常满意请按5，非常不满意请按1。" in result.said()
    # The talk is over: the pop goes and the wrap-up form comes, on the same page.
    page_holds(page, "document.getElementById('pop').hidden")
    page_holds(page, "document.getElementById('wrapup') !== null")
    page.screenshot(path=str(tmp_path / "wrapup.png"), full_page=True)
