"""In Chromium, in Chinese: a double click on 回电 or 添加备注 acts once, and a note typed while the
session ended is kept through signing in again (issue #17, points 2 and 3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from ivr.database import db
from ivr.queues.agents import create_agent
from tests.factories import CHROMIUM, add_message
from tests.loopback import RestCalls
from voicemail.models import Note

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
NOTE = "客户说包裹破损，要求周五前换货"


def notes(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Note.body).where(~Note.body.startswith("☎"))))


def sign_in(page: Page) -> None:
    page.fill("input[name=name]", "li")
    page.fill("input[name=password]", "correct horse")
    page.click("button:has-text('登录')")


def test_double_clicks_act_once_and_a_note_outlives_its_session(
    rest_calls: str, app: Flask, live_server: str, browser: Browser, tmp_path: Path
) -> None:
    with app.app_context():
        create_agent(db.session, "li", password="correct horse", phone="+8613900000001")
        db.session.commit()
    ident = add_message(app)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.clock.install()  # the page's clock, to move past the session's end below
    page.goto(f"{live_server}/inbox/{ident}")
    sign_in(page)
    page.wait_for_selector("#call-back")

    page.dblclick("#call-back")
    page.wait_for_selector("text=您的电话正在响铃")
    assert len(RestCalls.placed) == 1  # the customer's phone is rung once
    assert "已经提交过" not in page.inner_text("main")  # the second click was never sent

    page.fill("textarea[name=body]", "已回电，客户不在")
    page.dblclick("button:has-text('添加备注')")
    page.wait_for_selector("text=已回电，客户不在")
    assert notes(app) == ["已回电，客户不在"] and "已经提交过" not in page.inner_text("main")

    # The agent types a note; meanwhile the session ends (its cookie expires) and the page says so.
    page.fill("textarea[name=body]", NOTE)
    context.clear_cookies()
    page.clock.fast_forward("13:00:00")
    page.wait_for_selector("#stale-notice:not([hidden])")
    assert "您的登录已结束" in page.inner_text("#stale-notice")
    page.screenshot(path=str(tmp_path / "stale.png"))
    page.click("button:has-text('添加备注')")
    page.wait_for_selector("text=您的登录已结束，这次操作没有完成")
    page.screenshot(path=str(tmp_path / "sign-in.png"))
    sign_in(page)
    page.wait_for_selector("#form-draft")
    assert page.url.endswith(f"/inbox/{ident}")
    # Filled in again by the page's script, which may run a moment after the notice is there.
    expect(page.locator("textarea[name=body]")).to_have_value(NOTE)
    page.screenshot(path=str(tmp_path / "draft.png"))
    page.click("button:has-text('添加备注')")
    page.wait_for_selector(f"ul.notes >> text={NOTE}")
    assert notes(app) == ["已回电，客户不在", NOTE]
    assert page.locator("#form-draft").count() == 0
    context.close()
