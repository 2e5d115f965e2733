"""Every page at a phone's width (390×844) and on a wide screen (1440×900), in 中文, in Chromium:
no sideways scrolling, no short word (已超时, 中文, 最长等待) broken across two lines, tables
that reflow into labelled rows on the phone, the width used on the wide screen; and, on the
same pages opened once, no serious or critical violation from the accessibility engine
(axe-core: contrast, names, labels, landmarks…) for a supervisor, an agent and nobody."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser

from tests.factories import CHROMIUM, open_settled
from tests.factories import sign_in as sign_in_client
from tests.web.test_accessibility_browser import RUN_AXE, SIZES, axe_page, sign_in, violations
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


def test_every_page_fits_the_screen_and_passes_the_accessibility_engine(
    app: Flask, live_server: str, browser: Browser
) -> None:
    """One crawl of every page at both sizes, two checks on each page it opens: the layout
    (here) and axe's serious and critical violations, for a supervisor, an agent (their pages,
    and one of the supervisors' they are refused) and nobody signed in."""
    people, pages = demo_day(app)
    urls = [url for _, url in pages if not NOT_PAGES.search(url)]
    assert len(urls) >= 15, urls
    agent = next(name for name, (_, role) in people.items() if role == "agent")
    client = app.test_client()
    sign_in_client(client, agent, people[agent][0])
    answers = {url: client.get(url).status_code for url in urls}
    theirs = [url for url in urls if answers[url] == 200]
    theirs += [url for url in urls if answers[url] == 403][:1]
    assert len(theirs) > 5 and 403 in answers.values(), answers
    problems: dict[str, object] = {}
    found: dict[str, object] = {}
    for width, height in SIZES:
        page = axe_page(browser, width, height)
        # Signed out: the sign-in page, and a page that is not there.
        for url in ("/login", "/nowhere"):
            if seen := violations(page, live_server, url):
                found[f"{width} nobody {url}"] = seen
        for name, visited in (("demo", urls), (agent, theirs)):
            sign_in(page, live_server, name, people[name][0])
            for url in visited:
                open_settled(page, live_server, url)
                if name == "demo":
                    laid = page.evaluate(LAYOUT)
                    if laid["scroll"] > 0 or laid["wide"] or laid["broken"]:
                        problems[f"{width} {url}"] = laid
                    if width == 1440 and page.locator("main table").count():
                        assert laid["main"] >= 1300, (url, laid["main"])  # not a 1100 px column
                if seen := page.evaluate(RUN_AXE):
                    found[f"{width} {name} {url}"] = seen
            if name == "demo" and width == 390:
                # The board's columns all stay, each cell saying which it is.
                page.goto(f"{live_server}/board")
                for column in ("最长等待", "回电请求", "等待中"):
                    cell = page.locator(f"#queues td[data-label='{column}']").first
                    assert cell.is_visible(), column
            page.context.clear_cookies()
        page.close()
    assert not problems, problems
    assert not found, "\n".join(f"{where}: {seen}" for where, seen in found.items())
