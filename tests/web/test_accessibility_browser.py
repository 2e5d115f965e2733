"""The accessibility engine (axe-core, vendored in tests/vendor/axe-core) in 中文: its helpers,
and what only a live board shows. Every page goes through it in the one crawl of every page at
both sizes (tests/web/test_layout_browser.py), which checks the layout of each page it opens
too."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import Agent, Call, EntryState, Outcome, Presence, QueueEntry
from ivr.queues.agents import create_agent, finish_call, set_presence
from tests.factories import CHROMIUM, open_settled, page_holds

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
    # The players' sound is not what axe reads; and a recording's download cut short by the
    # next page once left its file unclosed in the test server (a ResourceWarning: an error).
    page.route(re.compile(r"/audio$"), lambda route: route.abort())
    return page


def sign_in(page: Page, base: str, name: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def violations(page: Page, base: str, url: str) -> list[str]:
    """The serious and critical violations axe finds on ``url`` once it has settled."""
    open_settled(page, base, url)
    return list(page.evaluate(RUN_AXE))


@pytest.mark.usefixtures("manual_queues")  # the stay is set by hand
def test_the_boards_live_states_pass_the_accessibility_engine(
    app: Flask, live_server: str, browser: Browser
) -> None:
    """What only a live board shows: the screen pop with the call's controls, the wrap-up form."""
    with app.app_context():
        li = create_agent(db.session, "li", password="correct horse", languages=["zh"],
                          topics=["product"])  # fmt: skip
        create_agent(db.session, "wang", password="correct horse", languages=["zh"])
        set_presence(li, Presence.AVAILABLE)
        call = Call(sid="CA" + "5" * 32, from_number="+8613800002222", language="zh",
                    outcome=Outcome.AGENT)  # fmt: skip
        db.session.add(call)
        db.session.flush()
        now = utcnow()
        entry = QueueEntry(call_id=call.id, call_sid=call.sid, queue="product-zh",
                           topic="product", language="zh", node="product",
                           state=EntryState.BRIDGED, agent_id=li.id, offered_at=now,
                           bridged_at=now, entered_at=now - timedelta(seconds=30))  # fmt: skip
        db.session.add(entry)
        db.session.commit()
        entry_id, li_id = entry.id, li.id
    found: dict[str, object] = {}
    for width, height in SIZES:
        page = axe_page(browser, width, height)
        page.add_init_script("window.BOARD_REFRESH_MS = 200;")
        sign_in(page, live_server, "li", "correct horse")
        page.goto(f"{live_server}/board")
        page_holds(page, "document.getElementById('pop').dataset.state === 'bridged'")
        if seen := list(page.evaluate(RUN_AXE)):
            found[f"{width} talking"] = seen
        page.close()
    with app.app_context():  # the talk ends: li wraps up
        entry = db.session.get(QueueEntry, entry_id)
        assert entry is not None
        entry.state = EntryState.DONE
        li = db.session.get(Agent, li_id)
        finish_call(li, 600)
        db.session.commit()
    for width, height in SIZES:
        page = axe_page(browser, width, height)
        sign_in(page, live_server, "li", "correct horse")
        page.goto(f"{live_server}/board")
        page.wait_for_selector("#wrapup")
        if seen := list(page.evaluate(RUN_AXE)):
            found[f"{width} wrapping up"] = seen
        page.close()
    assert not found, "\n".join(f"{where}: {seen}" for where, seen in found.items())
