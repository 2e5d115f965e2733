"""Offers agents miss, through the offline Twilio: a phone that declines or is busy counts as a miss
and the caller goes to the next agent; a caller whose offer rings out hears their place on."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.database import db
from ivr.models import AgentOffer, OfferOutcome, Presence, Role
from ivr.queues.agents import create_agent, set_presence
from ivr.simulator import Simulator
from ivr.simulator.agents import Agent as ScriptedAgent
from ivr.simulator.call import CallRun
from tests.e2e.test_distribution import PHONE, agent, product_caller
from tests.factories import menu_with, sign_in

POSITION = "您现在排在第 1 位"


@pytest.fixture
def app_settings(app_settings: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The shipped menu (misses before away: the default), the product queue ringing an agent for
    90 s and the caller told their place every 10 s; no wrap-up."""
    menu = Path(menu_with(tmp_path, product="ring_timeout: 90"))
    text = menu.read_text("utf-8")
    assert "announce_every: 45 " in text and "max_misses" not in text
    menu.write_text(text.replace("announce_every: 45 ", "announce_every: 10 "), "utf-8")
    app_settings.update(HOTLINE_MENU=str(menu), HOTLINE_WRAPUP_SECONDS=0)
    return app_settings


def staff(app: Flask, phone: Simulator, name: str, **at_the_phone: Any) -> None:
    """An available agent for Chinese product questions; ``at_the_phone``: how the scripted
    person there answers (declines, busy, answers)."""
    with app.app_context():
        row = create_agent(db.session, name, password="password1", phone=PHONE[name],
                           languages=["zh"], topics=["product"])  # fmt: skip
        set_presence(row, Presence.AVAILABLE)
        db.session.commit()
    phone.add_agent(ScriptedAgent(PHONE[name], answer_after=1.0, talk_seconds=20, **at_the_phone))


def offers(app: Flask) -> list[tuple[str, OfferOutcome | None, str]]:
    """Every offer so far, first first: (agent, outcome, Twilio's status of a missed one)."""
    with app.app_context():
        rows = db.session.scalars(select(AgentOffer).order_by(AgentOffer.id)).all()
        return [(agent_name(app, o.agent_id), o.outcome, o.status) for o in rows]


def misses(app: Flask) -> dict[str, tuple[int, Presence]]:
    """wang's and kim's misses in a row, and their presence."""
    return {name: (agent(app, name).missed_offers, agent(app, name).presence)
            for name in ("wang", "kim")}  # fmt: skip


def agent_name(app: Flask, ident: int) -> str:
    return next(name for name in PHONE if agent(app, name).id == ident)


@pytest.mark.slow  # two callers, each through the menu and a talk: seconds of real time
def test_a_declined_or_busy_phone_is_a_miss_and_the_caller_goes_to_the_next_agent(
    app: Flask, client: FlaskClient, live_phone: Simulator
) -> None:
    staff(app, live_phone, "wang", declines=True)  # rings, then the agent rejects the call
    staff(app, live_phone, "kim", busy=True)  # already on the phone
    staff(app, live_phone, "li")  # free the shortest: offered last
    first = live_phone.start(product_caller(0)).result(timeout=120)
    assert first.errors == [], first.transcript_text()
    assert first.queue_result == "redirected" and first.talked_with() == PHONE["li"]
    missed = (OfferOutcome.MISSED, "busy")  # Twilio reports a declined call busy too
    assert offers(app) == [("wang", *missed), ("kim", *missed), ("li", OfferOutcome.ANSWERED, "")]
    assert misses(app) == {"wang": (1, Presence.AVAILABLE), "kim": (1, Presence.AVAILABLE)}
    # The next caller: each misses a second time in a row (the default limit) and is set away.
    second = live_phone.start(product_caller(1)).result(timeout=120)
    assert second.errors == [], second.transcript_text()
    assert second.talked_with() == PHONE["li"]
    assert offers(app)[3:] == [
        ("wang", *missed),
        ("kim", *missed),
        ("li", OfferOutcome.ANSWERED, ""),
    ]
    assert misses(app) == {"wang": (2, Presence.AWAY), "kim": (2, Presence.AWAY)}
    assert (agent(app, "li").missed_offers, agent(app, "li").presence) == (0, Presence.AVAILABLE)
    # wang's board says why (here in English).
    sign_in(client, "wang", "password1")
    board = client.get("/board", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "You were set away after missing the calls offered to you (2 in a row)." in board
    # The supervisor's figures per agent count the misses.
    with app.app_context():
        create_agent(db.session, "boss", password="password1", role=Role.SUPERVISOR)
        db.session.commit()
    sign_in(client, "boss", "password1")
    rows = csv.DictReader(io.StringIO(
        client.get("/export/agents.csv?header=keys").get_data(as_text=True).lstrip("\ufeff")))  # fmt: skip
    figures = {row["agent"]: (row["offered"], row["answered"], row["missed"]) for row in rows}
    assert figures == {"wang": ("2", "0", "2"), "kim": ("2", "0", "2"), "li": ("2", "2", "0")}


def shared_times(run: CallRun, kind: str, starts: str) -> list[float]:
    """When (simulator seconds, one clock for every leg) ``run``'s lines of ``kind`` beginning
    with ``starts`` happened."""
    return [run.origin + line.at for line in run.result.transcript
            if line.kind == kind and line.text.startswith(starts)]  # fmt: skip


@pytest.mark.slow  # 90 s of simulated ringing: seconds of real time
def test_a_caller_hears_their_place_while_an_agent_s_phone_rings_out_then_the_next_answers(
    app: Flask, live_phone: Simulator
) -> None:
    staff(app, live_phone, "wang", answers=False)  # free longest: rung first, for 90 s
    staff(app, live_phone, "li")
    handle = live_phone.start(product_caller(0))
    result = handle.result(timeout=120)
    assert result.errors == [], result.transcript_text()
    assert result.queue_result == "redirected" and result.talked_with() == PHONE["li"]
    with live_phone.lock:
        wang_leg = next(h.run for h in live_phone.handles if h.run.party == PHONE["wang"])
    assert wang_leg.result.status == "no-answer"
    (rang_from,) = shared_times(wang_leg, "ringing", "")
    (rang_out,) = shared_times(wang_leg, "dial", f"{PHONE['wang']}: no answer after 90s")
    # While wang's phone rang for 90 s, the caller kept looping through the queue's wait
    # TwiML: told their place on each loop, as when nobody is rung. A loop takes 30 s or so
    # (place, options, a pause), more on a loaded machine, whose delays the 50-times-faster
    # clock multiplies: at least twice.
    told = shared_times(handle.run, "say", POSITION)
    during = [t for t in told if rang_from < t < rang_out]
    assert len(during) >= 2, result.transcript_text()
    assert offers(app) == [
        ("wang", OfferOutcome.MISSED, "no-answer"),
        ("li", OfferOutcome.ANSWERED, ""),
    ]
    assert agent(app, "wang").missed_offers == 1
    assert agent(app, "wang").presence == Presence.AVAILABLE  # one miss: still offered callers
