"""The agent's board through the offline Twilio: the caller pops up while the phone rings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.database import db
from ivr.models import Presence
from ivr.queues.agents import create_agent, set_presence
from ivr.simulator import Caller, Press, Simulator
from ivr.simulator.agents import Agent as ScriptedAgent
from tests.factories import menu_with, sign_in

PHONE = "+8613900000001"
CALLER = "+8613800000077"
SHOWN = "+86 138****0077"  # as an agent without the right to see numbers sees it


@pytest.fixture
def app_settings(app_settings: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The product queue rings agents long enough to look at the pop while it rings."""
    app_settings.update(HOTLINE_MENU=menu_with(tmp_path, product="ring_timeout: 120"),
                        HOTLINE_WRAPUP_SECONDS=0)  # fmt: skip
    return app_settings


@pytest.mark.slow  # seconds of real time: the quick loop leaves it to the full run
def test_the_board_shows_the_caller_while_the_phone_rings_then_the_conversation(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    with app.app_context():
        li = create_agent(db.session, "li", password="password1", phone=PHONE,
                          languages=["zh"], topics=["product"])  # fmt: skip
        set_presence(li, Presence.AVAILABLE)
        db.session.commit()
    # Simulated time runs 50 times faster: the phone rings 2 s, the talk lasts 1 s.
    live_phone.add_agent(ScriptedAgent(PHONE, answer_after=100, talk_seconds=50))
    sign_in(client, "li", "password1")
    handle = live_phone.start(Caller(number=CALLER, script=[Press("1"), Press("1")]))
    seen: list[tuple[str, float]] = []  # (what the board showed, when), each change once
    tag = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not handle.done:
        reply = client.get("/board/live.json", headers={"If-None-Match": tag})
        if reply.status_code == 200:
            tag = reply.headers["ETag"]
            pop = reply.json["pop"]
            shown = "nobody" if pop is None else f"{pop['state']} {pop['number']} {pop['topic']}"
            if not seen or seen[-1][0] != shown:
                seen.append((shown, time.monotonic()))
        else:
            assert reply.status_code == 304
        time.sleep(0.1)
    result = handle.result(timeout=60)
    assert result.queue_result == "redirected" and result.talked_with() == PHONE, seen
    shown = [s for s, _ in seen]
    assert shown[:1] == ["nobody"], seen
    assert f"offered {SHOWN} product question" in shown, seen
    assert f"bridged {SHOWN} product question" in shown, seen
    offered = shown.index(f"offered {SHOWN} product question")
    bridged = shown.index(f"bridged {SHOWN} product question")
    assert offered < bridged
    # The phone rang for a while: the pop stood there before the agent answered.
    assert seen[bridged][1] - seen[offered][1] > 1.0, seen
    time.sleep(0.3)
    assert client.get("/board/live.json").json["pop"] is None  # the call is over
