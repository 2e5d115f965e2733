"""A recorded conversation on the call page, in a real browser: the turns follow the player, and a
click on a turn plays from there."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page

from ivr.database import db
from ivr.models import Call
from tests.factories import CHROMIUM, page_holds
from tests.voicemail.test_conversations import AGENT_FROM, CALL_SID, conversation_wav
from voicemail.models import ConversationRecording, VoicemailStatus
from voicemail.search import index_conversation
from voicemail.storage import CONVERSATIONS, FileStore

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]

TURNS = [
    ("customer", 0.4, 6.5, "한 잔 의 커피 가 소비자 에게 전해지기 위해선"),
    ("agent", AGENT_FROM + 0.2, 17.0, "그 바람 에 나 의 몸 도 겹쳐 쓰러지 며"),
]


def transcribed_conversation(app: Flask) -> int:
    """A conversation the worker has done: its audio kept, its turns stored."""
    with app.app_context():
        call = Call(sid=CALL_SID, from_number="+8613800000000", to_number="+864008001234",
                    status="completed", language="ko", duration=40)  # fmt: skip
        db.session.add(call)
        db.session.flush()
        row = ConversationRecording(
            call_id=call.id, call_sid=CALL_SID, from_number=call.from_number, language="ko",
            queue="product", status=VoicemailStatus.TRANSCRIBED, duration=18.0,
            pauses=[[7.0, 8.0]], audio_format="wav",
            turns=[{"speaker": who, "start": start, "end": end, "text": text,
                    "words": [{"word": text, "start": start, "end": end, "conf": 0.9}]}
                   for who, start, end, text in TURNS],
        )  # fmt: skip
        db.session.add(row)
        db.session.flush()
        store = FileStore(app.config["HOTLINE_DATA_DIR"], CONVERSATIONS)
        row.audio_path = store.save(row.id, "wav", conversation_wav())
        row.transcript = "\n".join(t[3] for t in TURNS)
        index_conversation(db.session, row.id, row.transcript)
        db.session.commit()
        return row.id


def signed_in(browser: Browser, live_server: str, *, locale: str, width: int = 1100) -> Page:
    page = browser.new_page(viewport={"width": width, "height": 800}, locale=locale)
    page.goto(f"{live_server}/login")
    page.fill("input[name=name]", "li")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    return page


def test_turns_follow_the_player_and_a_click_plays_from_a_turn(
    app: Flask, live_server: str, browser: Browser, agent: str, tmp_path: Path
) -> None:
    ident = transcribed_conversation(app)
    page = signed_in(browser, live_server, locale="en-US")
    page.goto(f"{live_server}/inbox")
    page.fill("input[name=q]", "쓰러지")  # said by the agent only
    page.click("text=Filter")
    page.wait_for_selector(f"tr[data-conversation='{ident}']")
    page.screenshot(path=str(tmp_path / "search-en.png"))
    page.click(f"tr[data-conversation='{ident}'] a")
    page.wait_for_selector(f"#turn-{ident}-1:target")
    player = f"document.querySelector('#conversation-{ident} audio')"
    page_holds(page, f"{player}.readyState >= 1", 10)
    page.evaluate(f"{player}.play()")
    page_holds(page, f"document.querySelector('#turn-{ident}-0.now') !== null", 10)
    assert page.locator(".turn.now").count() == 1
    page.locator(f"#turn-{ident}-1").click()  # the agent's turn
    page_holds(page, f"{player}.currentTime >= {AGENT_FROM}", 5)
    page_holds(page, f"document.querySelector('#turn-{ident}-1.now') !== null", 5)
    assert page.locator(f"#turn-{ident}-0.now").count() == 0
    page.evaluate(f"{player}.pause()")
    assert page.locator(f"#turn-{ident}-0 .speaker").inner_text() == "Customer"
    assert page.locator(f"#turn-{ident}-1 .speaker").inner_text() == "Agent"
    assert page.locator(".turns .paused").inner_text().endswith("Recording paused")
    bar = page.locator(".conversation-bar .paused").bounding_box()
    whole = page.locator(".conversation-bar").bounding_box()
    assert bar and whole and 0.35 < (bar["x"] - whole["x"]) / whole["width"] < 0.42  # at 7 s of 18
    page.screenshot(path=str(tmp_path / "conversation-en.png"), full_page=True)

    zh = signed_in(browser, live_server, locale="zh-CN", width=390)
    zh.goto(f"{live_server}/calls/{CALL_SID}#turn-{ident}-1")
    assert zh.locator(f"#turn-{ident}-0 .speaker").inner_text() == "客户"
    assert zh.locator(f"#turn-{ident}-1 .speaker").inner_text() == "客服"
    assert "录音已暂停" in zh.locator(".turns .paused").inner_text()
    zh.screenshot(path=str(tmp_path / "conversation-zh-390.png"), full_page=True)
    print(tmp_path)


def test_turns_by_keyboard_alone(
    app: Flask, live_server: str, browser: Browser, agent: str
) -> None:
    ident = transcribed_conversation(app)
    page = signed_in(browser, live_server, locale="zh-CN")
    # Linked to the agent's turn (as the inbox search links): that turn is the tab stop.
    page.goto(f"{live_server}/calls/{CALL_SID}#turn-{ident}-1")
    player = f"document.querySelector('#conversation-{ident} audio')"
    page_holds(page, f"{player}.readyState >= 1", 10)
    assert page.locator(".turns .turn[tabindex='0']").count() == 1
    page.focus(f"#conversation-{ident} audio")
    while page.evaluate("document.activeElement.tagName") == "AUDIO":
        page.keyboard.press("Tab")  # through the player's own controls
    assert page.evaluate("document.activeElement.id") == f"turn-{ident}-1"
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.activeElement.id") == f"turn-{ident}-0"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")  # plays from the agent's turn
    page_holds(page, f"!{player}.paused && {player}.currentTime >= {AGENT_FROM}", 5)
    page.keyboard.press(" ")
    assert page.evaluate(f"{player}.paused")
    page.evaluate(f"{player}.currentTime = 2")
    page.keyboard.press("Shift+ArrowRight")
    assert 6.9 <= page.evaluate(f"{player}.currentTime") <= 7.1
    page.keyboard.press("Shift+ArrowLeft")
    assert 1.9 <= page.evaluate(f"{player}.currentTime") <= 2.1
    assert page.evaluate("document.activeElement.id") == f"turn-{ident}-1"
