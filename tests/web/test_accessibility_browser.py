"""Every page through an accessibility engine (axe-core, vendored in tests/vendor/axe-core), in
中文, on a wide screen (1440×900) and a phone (390×844), for a supervisor, an agent and nobody
signed in: no serious or critical violation (contrast, names, labels, landmarks…)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page

from tests.factories import CHROMIUM, invoke
from tests.pages import page_urls
from tests.web.test_words import MACHINES, SIGN_IN, a_conversation, examples

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js"
NOT_PAGES = re.compile(r"\.(json|csv)$|/audio$|/download$")
SIZES = ((1440, 900), (390, 844))
# Each violation as "rule (impact, what to fix): the first elements it found".
RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}, ${v.help}): ` +
                v.nodes.slice(0, 4).map((n) => n.target.join(" ")).join(", "));
}"""


def axe_page(browser: Browser, width: int, height: int) -> Page:
    """A page in 中文 at this size into which axe is loaded before the page's own scripts (an
    init script goes through DevTools: the pages' Content-Security-Policy does not apply)."""
    page = browser.new_page(locale="zh-CN", viewport={"width": width, "height": height})
    page.add_init_script(path=str(AXE))
    return page


def sign_in(page: Page, base: str, name: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def violations(page: Page, url: str) -> list[str]:
    """The serious and critical violations axe finds on ``url`` once it has settled."""
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return list(page.evaluate(RUN_AXE))


def test_every_page_passes_the_accessibility_engine(
    app: Flask, live_server: str, browser: Browser
) -> None:
    app.config["HOTLINE_ENV"] = "development"  # the demo refuses production
    played = invoke(app, "demo", "--calls", "24", "--seed", "3")
    assert played.exit_code == 0, played.output
    people = {name: (password, role) for name, password, role in SIGN_IN.findall(played.output)}
    example = examples(app)
    a_conversation(app, str(example["sid"]))
    urls = [url for endpoint, url in page_urls(app, example)
            if not endpoint.startswith(MACHINES) and not NOT_PAGES.search(url)]  # fmt: skip
    assert len(urls) >= 15, urls
    agent = next(name for name, (_, role) in people.items() if role == "agent")
    found: dict[str, object] = {}
    for width, height in SIZES:
        page = axe_page(browser, width, height)
        # Signed out: the sign-in page, and a page that is not there.
        for url in ("/login", "/nowhere"):
            if seen := violations(page, live_server + url):
                found[f"{width} nobody {url}"] = seen
        for name in ("demo", agent):
            sign_in(page, live_server, name, people[name][0])
            # The agent opens the supervisors' pages too: those are the "not allowed" page.
            for url in urls:
                if seen := violations(page, live_server + url):
                    found[f"{width} {name} {url}"] = seen
            page.context.clear_cookies()
        page.close()
    assert not found, "\n".join(f"{where}: {seen}" for where, seen in found.items())
