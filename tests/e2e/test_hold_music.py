"""A held caller hears the queue's music through the offline Twilio; the agent does not, and
taking the caller off hold stops it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.simulator import Caller, Press, Simulator
from ivr.simulator.result import CallResult, Line
from tests.e2e.test_conversation import LI, staff
from tests.factories import auth, make_token, menu_with, until

HOLD_MUSIC = "https://media.example.com/hold-music.mp3"


@pytest.fixture
def app_settings(app_settings: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The shipped menu with hold music (its default is quiet pauses), no wrap-up."""
    menu = Path(menu_with(tmp_path))
    text = menu.read_text("utf-8")
    assert 'hold_music: ""' in text
    menu.write_text(text.replace('hold_music: ""', f"hold_music: {HOLD_MUSIC}"), "utf-8")
    app_settings.update(HOTLINE_MENU=str(menu), HOTLINE_WRAPUP_SECONDS=0)
    return app_settings


def hearing(result: CallResult) -> list[tuple[int, str]]:
    """Where in the transcript the leg's hearing in its room changed, and to what."""
    return [
        (n, line.text.split(": ", 1)[1])
        for n, line in enumerate(result.transcript)
        if line.kind == "conference" and ": hears " in line.text
    ]


def music(lines: list[Line]) -> list[Line]:
    return [line for line in lines if line.kind == "play" and line.text == HOLD_MUSIC]


def test_a_held_caller_hears_the_hold_music_and_the_agent_does_not(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "li", LI, "product", talk=3600)
    token = make_token(app)

    def act(action: str) -> None:
        reply = client.post("/api/v1/agents/li/conversation", json={"action": action},
                            headers=auth(token))  # fmt: skip
        assert reply.status_code == 200, reply.json

    handle = live_phone.start(Caller(number="+8613800000005", script=[Press("1"), Press("1")]))
    caller = handle.run.result
    until(lambda: LI in caller.heard_in_conference)
    with live_phone.lock:
        agent_leg = next(h.run.result for h in live_phone.handles if h.run.party == LI)
    act("hold")
    until(lambda: "hears music" in hearing(caller)[-1][1])
    held_from = hearing(caller)[-1][0]
    until(lambda: len(music(caller.transcript[held_from:])) >= 2)  # loop after loop
    act("resume")
    until(lambda: "hears music" not in hearing(caller)[-1][1])
    resumed_from = hearing(caller)[-1][0]
    resumed_at = caller.transcript[resumed_from].at
    # Long enough for several more loops of the music, had it gone on.
    until(lambda: handle.run.clock > resumed_at + 4 * live_phone.play_seconds)
    act("hang_up")
    result = handle.result(timeout=60)
    assert result.errors == [], result.transcript_text()
    # On hold the caller heard the room's HoldUrl: the app's music TwiML (fetched each loop, the
    # URL without the waiting room's ?entry=), whose <Play> played loop after loop.
    assert "hears music https://hotline.example.com/voice/queue/music" in (
        result.transcript[held_from].text
    )
    assert len(music(result.transcript[held_from:resumed_from])) >= 2, result.transcript_text()
    fetched = [r for r in result.requests if r.path == "/voice/queue/music"]
    assert len(fetched) >= 2 and all(r.form.get("ConferenceSid") for r in fetched)
    # Taken off hold, the caller hears li again and no more music until the room ends.
    assert "hears music" not in result.transcript[resumed_from].text
    after = result.transcript[resumed_from:]
    left = next(n for n, line in enumerate(after) if line.text.startswith("out of "))
    assert music(after[:left]) == [] and after[1:left] == [], result.transcript_text()
    # li heard nobody (not the music) while the caller was held, then the caller again.
    assert [text for _, text in hearing(agent_leg)][-2:] == ["hears nobody", "hears caller"]
    assert not [line for line in agent_leg.transcript if "music" in line.text]
    record = client.get(f"/api/v1/calls/{result.sid}", headers=auth(token)).json
    kinds = [e["kind"] for e in record["events"]]
    assert kinds.count("held") == 1 and kinds.count("resumed") == 1
