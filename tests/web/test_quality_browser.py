"""The quality page in a real browser, in English and Chinese, on a desktop and a 390 px phone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser

from tests.factories import CHROMIUM
from tests.web.test_quality_page import BAD, GOOD, add_agents, add_conversation, add_message

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


def test_the_quality_page_reads_well_in_both_languages_and_widths(
    app: Flask, live_server: str, browser: Browser, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("HOTLINE_SCREENSHOTS") or tmp_path)  # to look at them
    agents = add_agents(app)
    add_conversation(app, agents["li"], BAD, 1)
    add_conversation(app, agents["wang"], GOOD, 2)
    add_message(app, "我 的 快递 还 没 到 已经 一个 星期 了 再 不 处理 我 就 投诉 到 消协", 3)
    for language, width in (("en", 1100), ("en", 390), ("zh", 1100), ("zh", 390)):
        page = browser.new_page(viewport={"width": width, "height": 800}, locale=language)
        page.goto(f"{live_server}/login")
        page.fill("input[name=name]", "boss")
        page.fill("input[name=password]", "correct horse")
        page.click("button[type=submit]")
        page.goto(f"{live_server}/language/{language}")
        page.goto(f"{live_server}/quality")
        page.wait_for_selector("#checks li.check")
        assert page.locator("h1").inner_text() == ("Quality" if language == "en" else "质量检查")
        assert page.locator("#checks li.check").count() == 3
        first = page.locator("#checks li.check").first
        assert first.locator("mark.flag").all_inner_texts() == ["投诉", "12315"]
        assert first.locator("mark.flag").first.is_visible()
        # Nothing runs off the side of a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(shots / f"quality-{language}-{width}.png"), full_page=True)
        page.close()
