"""The wallboard: signed-in readers only, and the counts of the queues, agents and today."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import Call, EntryState, Outcome, Presence, QueueEntry, Role
from ivr.queues.agents import create_agent, set_presence
from tests.factories import sign_in

pytestmark = pytest.mark.usefixtures("manual_queues")  # stays set by hand


def entry(n: int, state: EntryState, waited: int, *, answered: bool = False) -> None:
    """A caller who entered the product queue ``waited`` seconds ago."""
    at = utcnow() - timedelta(seconds=waited)
    call = Call(sid=f"CA{n:032d}", status="in-progress", started_at=at,
                outcome=Outcome.AGENT if answered else None)  # fmt: skip
    db.session.add(call)
    db.session.flush()
    db.session.add(QueueEntry(
        call_id=call.id, call_sid=call.sid, queue="product-zh", topic="product", language="zh",
        node="product", state=state, entered_at=at,
        wait_seconds=None if state == EntryState.WAITING else 5,
        bridged_at=at + timedelta(seconds=5) if answered else None,
    ))  # fmt: skip


@pytest.fixture
def floor(app: Flask) -> None:
    """Two callers waiting (95 s and 10 s), one answered and one who gave up today; agents:
    one available, one busy, and the supervisor away."""
    with app.app_context():
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        li = create_agent(db.session, "li", password="correct horse", languages=["zh"],
                          topics=["product"])  # fmt: skip
        wang = create_agent(db.session, "wang", password="correct horse")
        set_presence(li, Presence.AVAILABLE)
        set_presence(wang, Presence.BUSY)
        entry(1, EntryState.WAITING, 95)
        entry(2, EntryState.WAITING, 10)
        entry(3, EntryState.DONE, 60, answered=True)
        entry(4, EntryState.ABANDONED, 40)
        db.session.commit()


def test_the_wallboard_needs_a_signed_in_reader(client: FlaskClient) -> None:
    for path in ("/wallboard", "/wallboard.json"):
        reply = client.get(path)
        assert (reply.status_code, reply.location) == (302, f"/login?next={path}")


@pytest.mark.usefixtures("floor")
def test_the_wallboard_counts_queues_agents_and_today(client: FlaskClient) -> None:
    sign_in(client, "li")  # agents may look at it too: it names no caller
    data = client.get("/wallboard.json").json
    assert data is not None
    assert data["waiting"] == 2
    assert 95 <= data["longest_wait"] <= 97
    assert data["agents"] == {"available": 1, "busy": 1, "away": 1}
    assert (data["answered"], data["abandoned"]) == (1, 1)
    assert data["service_level"] == 0.25  # one of four answered within 20 s
    [product] = [q for q in data["queues"] if q["queue"] == "product-zh"]
    assert product["waiting"] == 2

    page = client.get("/wallboard").get_data(as_text=True)
    shown = dict(re.findall(r'<b id="([a-z-]+)"[^>]*>([^<]+)</b>', page))
    assert shown["waiting"] == "2" and shown["longest-wait"].startswith("1:3")
    assert (shown["available"], shown["busy"], shown["away"]) == ("1", "1", "1")
    assert (shown["answered"], shown["abandoned"], shown["service"]) == ("1", "1", "25%")
    assert "<nav" not in page and "<form" not in page and "<button" not in page  # no controls
    assert re.search(r'<noscript><meta http-equiv="refresh" content="\d+"></noscript>', page)
    assert 'src="/static/wallboard.js' in page


@pytest.mark.usefixtures("floor")
def test_the_figures_page_links_to_the_wallboard(client: FlaskClient) -> None:
    sign_in(client, "zhang")
    assert re.search(
        r'<a id="wallboard" href="/wallboard">', client.get("/figures").get_data(as_text=True)
    )
