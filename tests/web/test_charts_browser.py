"""The figures' charts and the wallboard in Chromium, in 中文, on a phone (390×844), a laptop
(1440×900) and a wall screen (1920×1080): no sideways scroll, chart text seen at a readable
size, and the wallboard refreshing itself."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import (
    AgentOffer,
    Call,
    EntryState,
    OfferOutcome,
    Outcome,
    Presence,
    QueueEntry,
    Role,
)
from ivr.queues.agents import create_agent, set_presence
from tests.factories import CHROMIUM

pytestmark = [
    pytest.mark.usefixtures("manual_queues"),  # stays set by hand
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
SIZES = [(390, 844), (1440, 900), (1920, 1080)]
# Sideways overflow, and each chart text's size and whether it lies in the window.
SEEN = """(selector) => ({
  scroll: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  tall: document.documentElement.scrollHeight - window.innerHeight,
  texts: [...document.querySelectorAll(selector)].map((t) => {
    const box = t.getBoundingClientRect();
    return { text: t.textContent, size: parseFloat(getComputedStyle(t).fontSize),
             inside: box.width > 0 && box.left >= 0 && box.right <= innerWidth + 0.5 };
  }),
})"""


def caller(
    n: int, state: EntryState, ago: int, *, answered: bool = False, agent: int | None = None
) -> None:
    at = utcnow() - timedelta(seconds=ago)
    call = Call(sid=f"CA{n:032d}", status="completed", started_at=at,
                outcome=Outcome.AGENT if answered else Outcome.ABANDONED)  # fmt: skip
    db.session.add(call)
    db.session.flush()
    db.session.add(QueueEntry(
        call_id=call.id, call_sid=call.sid, queue="product-zh", topic="product", language="zh",
        node="product", state=state, entered_at=at,
        wait_seconds=None if state == EntryState.WAITING else 8 + n,
        bridged_at=at + timedelta(seconds=8 + n) if answered else None, agent_id=agent,
        talk_seconds=60 * n if answered else None,
    ))  # fmt: skip
    if answered and agent:
        db.session.flush()
        [entry] = db.session.scalars(select(QueueEntry).where(QueueEntry.call_id == call.id))
        db.session.add(AgentOffer(agent_id=agent, entry_id=entry.id, queue=entry.queue,
                                  offered_at=at, ended_at=at + timedelta(seconds=8 + n),
                                  outcome=OfferOutcome.ANSWERED))  # fmt: skip


def signed_in(browser: Browser, base: str, width: int, height: int) -> Page:
    page = browser.new_page(locale="zh-CN", viewport={"width": width, "height": height})
    page.goto(f"{base}/login")
    page.fill("input[name=name]", "zhang")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def test_charts_and_wallboard_fit_and_show_their_numbers(
    app: Flask, live_server: str, browser: Browser, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("HOTLINE_SCREENSHOTS") or tmp_path)  # to look at them
    with app.app_context():
        zhang = create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        zhang.timezone = "UTC"  # today in UTC: the hours the callers came
        li = create_agent(db.session, "li", password="correct horse", languages=["zh"],
                          topics=["product"])  # fmt: skip
        set_presence(li, Presence.AVAILABLE)
        set_presence(zhang, Presence.BUSY)
        for n in range(1, 13):  # today, over the last hours
            caller(n, EntryState.DONE if n % 4 else EntryState.ABANDONED, n * 600,
                   answered=bool(n % 4), agent=(li.id, zhang.id)[n % 2])  # fmt: skip
        caller(20, EntryState.WAITING, 75)
        db.session.commit()
    for width, height in SIZES:
        page = signed_in(browser, live_server, width, height)
        page.goto(f"{live_server}/figures")
        seen = page.evaluate(SEEN, ".chart svg text.value, .chart svg text.slot")
        page.screenshot(path=str(shots / f"figures-{width}.png"), full_page=True)
        page.locator("#service-per-hour").screenshot(path=str(shots / f"service-{width}.png"))
        assert seen["scroll"] <= 0, (width, seen["scroll"])
        shown = [t for t in seen["texts"] if t["inside"]]
        assert {"3", "2"} & {t["text"] for t in shown}, seen["texts"]  # calls in the busy hours
        assert all(t["size"] >= 10 for t in shown), shown
        tooltip = page.locator("#calls-per-hour rect.hit title").first.text_content()
        assert tooltip and tooltip.endswith("通来电"), tooltip

        page.goto(f"{live_server}/figures/agents")
        seen = page.evaluate(SEEN, ".chart.across svg text")
        page.screenshot(path=str(shots / f"agents-{width}.png"), full_page=True)
        assert seen["scroll"] <= 0, (width, seen["scroll"])
        assert {"li", "zhang"} <= {t["text"] for t in seen["texts"] if t["inside"]}, seen["texts"]

        page.goto(f"{live_server}/wallboard")
        seen = page.evaluate(SEEN, ".wall-tile b, .wall-queues td")
        page.screenshot(path=str(shots / f"wallboard-{width}.png"), full_page=True)
        assert seen["scroll"] <= 0, (width, seen["scroll"])
        assert all(t["inside"] for t in seen["texts"]), seen["texts"]
        if width >= 1440:
            assert seen["tall"] <= 0, (width, seen["tall"])  # the wall screen needs no scrolling
            assert (
                page.locator("#waiting").evaluate("(b) => parseFloat(getComputedStyle(b).fontSize)")
                >= 80
            )
        assert page.locator("#waiting").text_content() == "1"
        page.close()

    # The wallboard writes new figures without a reload.
    page = signed_in(browser, live_server, 1920, 1080)
    page.goto(f"{live_server}/wallboard")
    page.evaluate("() => { window.sameDocument = true; }")
    with app.app_context():
        caller(21, EntryState.WAITING, 5)
        db.session.commit()
    deadline = time.monotonic() + 15
    while page.locator("#waiting").text_content() != "2":
        assert time.monotonic() < deadline, "the wallboard did not refresh"
        time.sleep(0.2)
    assert page.evaluate("() => window.sameDocument === true")
    page.close()
