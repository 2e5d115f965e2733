"""Paging the inbox in a real browser, in Chinese: the next page, the filters kept, back again."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser

from tests.factories import CHROMIUM
from tests.web.test_list_pages import add_messages

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


def test_an_agent_pages_through_the_overdue_inbox_in_chinese(
    app: Flask, live_server: str, browser: Browser, agent: str, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("HOTLINE_SCREENSHOTS") or tmp_path)  # to look at them
    add_messages(app, [timedelta(hours=30, minutes=n) for n in range(60)], category="product")
    add_messages(app, [timedelta(minutes=1)], first=100, category="product")  # not overdue
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page.goto(f"{live_server}/login")
    page.fill("input[name=name]", "li")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.goto(f"{live_server}/language/zh")
    page.goto(f"{live_server}/inbox")
    page.check("input[name=overdue]")
    with page.expect_navigation():  # the next page, not the one before it
        page.click("form.filters button[type=submit]")
    assert page.locator(".pager .total").inner_text() == "共 60 条"
    rows = page.locator("table.inbox tbody tr")
    assert rows.count() == 50
    assert rows.first.locator("td.due").inner_text() == "已超时 1 天 6 小时"  # the most overdue
    page.screenshot(path=str(shots / "inbox-pages-zh.png"), full_page=True)
    with page.expect_navigation():
        page.click("#older")
    assert rows.count() == 10 and "overdue=1" in page.url
    assert rows.last.locator("td.due").inner_text() == "已超时 1 天 5 小时"
    assert page.locator("#older").count() == 0
    with page.expect_navigation():
        page.click("#newer")
    assert rows.count() == 50 and page.locator("#newer").count() == 0
    page.close()
