"""Every page at a phone's width (390 px) and on a wide screen (1440 px), in 中文, in Chromium:
no sideways scrolling, no short word (已超时, 中文, 最长等待) broken across two lines, tables
that reflow into labelled rows on the phone, and the width used on the wide screen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page

from tests.factories import CHROMIUM, open_settled
from tests.web.test_words import demo_day

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
NOT_PAGES = re.compile(r"\.(json|csv)$|/audio$|/download$")

# What overflows the page sideways (outside a box that scrolls by itself), and which short
# words (up to ten characters without a space) are set on more than one line.
LAYOUT = """() => {
  const width = document.documentElement.clientWidth;
  const scrolls = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== 'visible') return true;
    }
    return false;
  };
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.width > 1 && box.right > width + 1 && !scrolls(el)) wide.push(el.outerHTML.slice(0, 80));
  }
  const broken = [];
  for (const el of document.querySelectorAll('nav a, button, th, td, label, dt, dd, .status, .due, .pager a')) {
    const head = el.closest('thead');
    if (head && getComputedStyle(head).position === 'absolute') continue;  // read aloud only
    for (const node of el.childNodes) {
      const text = node.nodeType === 3 ? node.textContent.trim() : '';
      if (!text || text.length > 10 || /\\s/.test(text)) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
      if (lines.size > 1) broken.push(text);
    }
  }
  const main = document.querySelector('main');
  return {
    scroll: document.documentElement.scrollWidth - width, wide: wide.slice(0, 5),
    broken, main: main ? main.getBoundingClientRect().width : 0,
  };
}"""


def signed_in(browser: Browser, base: str, name: str, password: str, width: int) -> Page:
    page = browser.new_page(locale="zh-CN", viewport={"width": width, "height": 900})
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def test_every_page_fits_a_phone_and_uses_a_wide_screen(
    app: Flask, live_server: str, browser: Browser
) -> None:
    people, pages = demo_day(app)
    urls = [url for _, url in pages if not NOT_PAGES.search(url)]
    assert len(urls) >= 15, urls
    problems: dict[str, object] = {}
    for width in (390, 1440):
        page = signed_in(browser, live_server, "demo", people["demo"][0], width)
        for url in urls:
            open_settled(page, live_server, url)
            seen = page.evaluate(LAYOUT)
            if seen["scroll"] > 0 or seen["wide"] or seen["broken"]:
                problems[f"{width} {url}"] = seen
            if width == 1440 and page.locator("main table").count():
                assert seen["main"] >= 1300, (url, seen["main"])  # not a 1100 px column
        if width == 390:
            # The board's columns all stay, each cell saying which it is.
            page.goto(f"{live_server}/board")
            for column in ("最长等待", "回电请求", "等待中"):
                cell = page.locator(f"#queues td[data-label='{column}']").first
                assert cell.is_visible(), column
        page.close()
    assert not problems, problems
