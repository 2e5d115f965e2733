"""The screen pop and the board's live state, gathered from the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from ivr.clock import utcnow
from ivr.database import db
from ivr.hotline import hotline, no_caller_links
from ivr.models import Agent, Call, EntryState, Order, QueueEntry
from ivr.queues.screen_pop import board_state, screen_pop
from tests.conftest import Twilio
from tests.factories import SID, add_agent, add_message, call_params, path_of, wait_loop
from tests.twiml import Doc
from voicemail.models import Voicemail

NUMBER = "+8613800138000"  # the number add_message leaves its messages from

pytestmark = pytest.mark.usefixtures("manual_queues")  # stays set by hand


def call_in(twilio: Twilio, *digits: str) -> Doc:
    """A call from NUMBER that presses ``digits`` at the prompts, one gather each."""
    params = call_params(CallSid=SID, From=NUMBER)
    doc = Doc.parse(twilio.post("/voice/incoming", params).data)
    for keys in digits:
        doc = Doc.parse(twilio.post(path_of(doc.gather().get("action", "")),
                                    {**params, "Digits": keys}).data)  # fmt: skip
    return doc


def earlier_call(n: int, days_ago: int, rating: int | None) -> Call:
    started = utcnow() - timedelta(days=days_ago)
    return Call(sid=f"CA{n:032d}", from_number=NUMBER, status="completed", started_at=started,
                outcome="agent", rating=rating)  # fmt: skip


def offer(app: Flask, agent_name: str, state: EntryState = EntryState.OFFERED) -> None:
    """The caller's entry, offered to (or bridged with) the agent, as distribution leaves it."""
    with app.app_context():
        agent = db.session.scalars(select(Agent).where(Agent.name == agent_name)).one()
        entry = db.session.scalars(select(QueueEntry)).one()
        entry.state, entry.agent_id, entry.offered_at = state, agent.id, utcnow()
        if state == EntryState.BRIDGED:
            entry.bridged_at = entry.entered_at + timedelta(seconds=42)
        db.session.commit()


def test_the_pop_tells_who_calls_what_they_did_and_what_they_left(
    app: Flask, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    with app.app_context():
        db.session.add(Order(number="20261124", status="shipped"))
        db.session.add_all([earlier_call(1, 3, rating=4), earlier_call(2, 1, rating=None)])
        db.session.commit()
    add_message(app, n=7, transcribed=False)
    # Chinese; delivery: an order that exists, one that does not; back in the menu, product.
    wait_loop(twilio, call_in(twilio, "1", "2", "99999#", "20261124#", "1"))
    offer(app, "li")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        entry = db.session.scalars(select(QueueEntry)).one()
        pop = screen_pop(db.session, entry, hotline().menu, "en", hotline().caller_links)
        assert (pop.state, pop.number, pop.language, pop.topic) == (
            "offered",
            NUMBER,
            "Chinese",
            "product question",
        )
        assert pop.call_sid == SID and pop.waited is None and not pop.callback
        assert pop.path == ["language", "main", "delivery", "main", "product"]
        assert [(o.number, o.result, o.status) for o in pop.orders] == [
            ("99999", "not_found", None),
            ("20261124", "found", "shipped"),
        ]
        assert [c.sid for c in pop.earlier] == [f"CA{2:032d}", f"CA{1:032d}"]
        assert pop.rating == 4  # the last rating the number gave, three days ago
        [(label, url)] = pop.links
        message = db.session.scalars(select(Voicemail)).one()
        assert "case 10000007: received" in label and url == f"/inbox/{message.id}"
        chinese = screen_pop(db.session, entry, hotline().menu, "zh", no_caller_links)
        assert (chinese.language, chinese.topic, chinese.orders[1].status) == (
            "中文",
            "商品咨询",
            "已发货",
        )
        assert chinese.links == []


def test_the_pop_of_a_conversation_counts_the_wait_until_the_answer(
    app: Flask, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    wait_loop(twilio, call_in(twilio, "1", "1"))
    offer(app, "li", EntryState.BRIDGED)
    with app.test_request_context():
        entry = db.session.scalars(select(QueueEntry)).one()
        pop = screen_pop(db.session, entry, hotline().menu, "en", hotline().caller_links)
        assert pop.state == "bridged" and pop.waited == 42
        assert pop.earlier == [] and pop.rating is None and pop.links == [] and pop.orders == []


def test_the_board_state_holds_still_until_something_happens(app: Flask, twilio: Twilio) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    add_agent(app, "wang", ["zh"], ["product"])
    with app.app_context():
        li = db.session.scalars(select(Agent).where(Agent.name == "li")).one()
        empty = board_state(db.session, li, hotline().menu, utcnow())
        assert empty.entry_id is None and empty.presence == "available"
        product = next(q for q in empty.queues if q["queue"] == "product-zh")
        assert product["waiting"] == 0 and product["agents_available"] == 2
    wait_loop(twilio, call_in(twilio, "1", "1"))
    with app.app_context():
        li = db.session.scalars(select(Agent).where(Agent.name == "li")).one()
        first = board_state(db.session, li, hotline().menu, utcnow())
        later = board_state(db.session, li, hotline().menu, utcnow() + timedelta(seconds=30))
        assert first.version != empty.version and later.version == first.version
        product = next(q for q in first.queues if q["queue"] == "product-zh")
        entered = db.session.scalars(select(QueueEntry)).one().entered_at
        assert product["waiting"] == 1
        assert datetime.fromisoformat(product["oldest_at"]) == entered.astimezone(UTC)
        assert first.entry_id is None  # waiting, but not for li
    offer(app, "wang")
    with app.app_context():
        li, wang = (db.session.scalars(select(Agent).where(Agent.name == n)).one()
                    for n in ("li", "wang"))  # fmt: skip
        assert board_state(db.session, li, hotline().menu, utcnow()).entry_id is None
        ringing = board_state(db.session, wang, hotline().menu, utcnow())
        assert ringing.entry_id is not None and ringing.entry_state == EntryState.OFFERED
    offer(app, "wang", EntryState.BRIDGED)
    with app.app_context():
        wang = db.session.scalars(select(Agent).where(Agent.name == "wang")).one()
        talking = board_state(db.session, wang, hotline().menu, utcnow())
        assert talking.entry_state == EntryState.BRIDGED and talking.version != ringing.version
