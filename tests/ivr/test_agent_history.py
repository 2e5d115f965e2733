"""Agents' presence history, offers and figures per agent and queue, on the real database."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import (
    Agent,
    AgentOffer,
    Call,
    CallEvent,
    OfferOutcome,
    Presence,
    PresenceChange,
    QueueEntry,
)
from ivr.queues.agent_history import presences_now
from ivr.queues.agents import choose_presence, expire_sessions, finish_call
from ivr.queues.entries import bridge, conversation_over, enter, left_queue, leg_ended, offer
from ivr.queues.performance import hold_times, performance
from tests.factories import add_agent


def waiting(session: Session, n: int, *, topic: str = "general") -> QueueEntry:
    call = Call(sid=f"CA{n:032d}", from_number="+8613800000000", to_number="+861010000000")
    session.add(call)
    session.flush()
    entry = enter(session, call, queue=f"{topic}-zh", topic=topic, language="zh", node="q")
    session.commit()
    return entry


def named(session: Session, name: str) -> Agent:
    return session.scalars(select(Agent).where(Agent.name == name)).one()


def history(session: Session, agent: Agent) -> list[tuple[str, str]]:
    rows = session.scalars(
        select(PresenceChange)
        .where(PresenceChange.agent_id == agent.id)
        .order_by(PresenceChange.began_at, PresenceChange.id)
    )
    return [(row.presence, row.reason) for row in rows]


def answered(
    session: Session, entry: QueueEntry, agent: Agent, *, talk: int, wrapup: float
) -> None:
    call = session.get(Call, entry.call_id)
    assert bridge(session, call, entry, agent, leg="CA" + "9" * 32)
    left_queue(session, call, entry, result="bridged", waited=5)
    session.commit()
    conversation_over(session, entry, status="completed", talk=talk, wrapup=wrapup)


def test_a_call_is_ringing_talking_wrap_up_then_available_each_with_since(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general"])
    with app.app_context():
        li = named(db.session, "li")
        entry = waiting(db.session, 1)
        assert offer(db.session, li, utcnow()) is not None
        db.session.commit()
        assert presences_now(db.session, [li], utcnow())[li.id][:2] == ("busy", "ringing")
        answered(db.session, entry, li, talk=75, wrapup=30)
        assert history(db.session, li) == [
            ("available", "chosen"),
            ("busy", "ringing"),
            ("busy", "talking"),
            ("busy", "wrapup"),
            ("available", "call_over"),
        ]
        now = utcnow()
        during = presences_now(db.session, [li], now)[li.id]
        assert (during.presence, during.reason) == ("busy", "wrapup")
        assert during.since <= now and li.presence == Presence.AVAILABLE  # not ready until after
        after = presences_now(db.session, [li], li.wrapup_until + timedelta(seconds=1))[li.id]
        assert (after.presence, after.reason, after.since) == ("available", "call_over",
                                                               li.wrapup_until)  # fmt: skip
        offered = db.session.scalars(select(AgentOffer)).one()
        assert (offered.agent_id, offered.queue, offered.outcome) == (li.id, "general-zh",
                                                                     "answered")  # fmt: skip


def test_a_change_during_wrap_up_ends_it_there(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general"])
    with app.app_context():
        li = named(db.session, "li")
        entry = waiting(db.session, 1)
        offer(db.session, li, utcnow())
        db.session.commit()
        answered(db.session, entry, li, talk=10, wrapup=300)
        # The Dial's end and the leg's status both finish the call: one wrap-up, not two.
        finish_call(li, 300)
        db.session.commit()
        assert [reason for _, reason in history(db.session, li)].count("wrapup") == 1
        assert history(db.session, li)[-1] == ("available", "call_over")
        choose_presence(li, Presence.AWAY)
        db.session.commit()
        later = presences_now(db.session, [li], utcnow() + timedelta(minutes=10))[li.id]
        assert (later.presence, later.reason) == ("away", "chosen")
        assert history(db.session, li)[-2:] == [("busy", "wrapup"), ("away", "chosen")]


def test_missed_and_withdrawn_offers_are_kept_with_why(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general"])
    with app.app_context():
        li = named(db.session, "li")
        first = waiting(db.session, 1)
        offer(db.session, li, utcnow())
        db.session.commit()
        leg_ended(db.session, first, li, status="no-answer", wrapup=0)
        assert li.presence == Presence.AWAY
        choose_presence(li, Presence.AVAILABLE)
        db.session.commit()
        second = waiting(db.session, 2)
        offer(db.session, li, utcnow())
        db.session.commit()
        assert second.agent_id == li.id or first.agent_id == li.id
        held = second if second.agent_id == li.id else first
        call = db.session.get(Call, held.call_id)
        left_queue(db.session, call, held, result="hangup", waited=3)
        db.session.commit()
        offers = db.session.scalars(select(AgentOffer).order_by(AgentOffer.id)).all()
        assert [(o.outcome, o.status) for o in offers] == [
            (OfferOutcome.MISSED, "no-answer"),
            (OfferOutcome.WITHDRAWN, ""),
        ]
        assert all(o.ended_at is not None for o in offers)
        assert history(db.session, li) == [
            ("available", "chosen"),
            ("busy", "ringing"),
            ("away", "missed"),
            ("available", "chosen"),
            ("busy", "ringing"),
            ("available", "withdrawn"),
        ]


def test_agents_whose_session_ran_out_are_set_away(app: Flask) -> None:
    for name in ("li", "wang", "kim"):
        add_agent(app, name, ["zh"], ["general"])
    with app.app_context():
        now = utcnow()
        named(db.session, "li").session_expires_at = now - timedelta(seconds=1)
        named(db.session, "wang").session_expires_at = now + timedelta(hours=1)
        db.session.commit()  # kim never signed in on the web: the API sets her presence
        assert [a.name for a in expire_sessions(db.session, now)] == ["li"]
        db.session.commit()
        li = named(db.session, "li")
        assert li.presence == Presence.AWAY and li.session_expires_at is None
        assert history(db.session, li)[-1] == ("away", "session_expired")
        assert named(db.session, "wang").presence == Presence.AVAILABLE
        assert named(db.session, "kim").presence == Presence.AVAILABLE
        assert expire_sessions(db.session, now) == []  # once
        # Shown away as soon as the session runs out, before any tick.
        wang = named(db.session, "wang")
        later = now + timedelta(hours=2)
        shown = presences_now(db.session, [wang], later)[wang.id]
        assert (shown.presence, shown.reason, shown.since) == ("away", "session_expired",
                                                               wang.session_expires_at)  # fmt: skip


def event(session: Session, call_id: int, kind: str, at: object, **detail: object) -> None:
    session.add(CallEvent(call_id=call_id, kind=kind, at=at, detail=detail))


def test_hold_time_pairs_holds_with_resumes_per_agent() -> None:
    t0 = utcnow()

    def at(n: int, call_id: int, kind: str, seconds: int, agent: str) -> CallEvent:
        return CallEvent(id=n, call_id=call_id, kind=kind, at=t0 + timedelta(seconds=seconds),
                         detail={"agent": agent})  # fmt: skip

    rows = [
        at(1, 1, "held", 0, "li"),
        at(2, 1, "held", 5, "li"),  # a repeat while on hold: the hold began at 0
        at(3, 1, "resumed", 25, "li"),
        at(4, 1, "held", 60, "li"),
        at(5, 1, "conversation_ended", 70, "li"),  # ends the hold never resumed
        at(6, 2, "held", 0, "wang"),
        at(7, 2, "resumed", 0, "li"),  # not wang's: hers lasts until the call ended
    ]
    held = hold_times(rows, {2: t0 + timedelta(seconds=12)}, t0 + timedelta(hours=1))
    assert held == {(1, "li"): (35.0, 2), (2, "wang"): (12.0, 1)}


def test_figures_per_agent_and_queue_add_up_to_what_happened(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general", "product"])
    add_agent(app, "wang", ["zh"], ["general"])
    with app.app_context():
        li, wang = named(db.session, "li"), named(db.session, "wang")
        # wang misses the first caller; li answers both, rated 5 and 3.
        first = waiting(db.session, 1)
        second = waiting(db.session, 2, topic="product")
        choose_presence(li, Presence.AWAY)
        assert offer(db.session, wang, utcnow()).id == first.id
        db.session.commit()
        leg_ended(db.session, first, wang, status="busy", wrapup=0)
        choose_presence(li, Presence.AVAILABLE)
        db.session.commit()
        for entry, talk, rating in ((first, 60, 5), (second, 90, 3)):
            assert offer(db.session, li, utcnow()).id == entry.id
            db.session.commit()
            answered(db.session, entry, li, talk=talk, wrapup=30)
            db.session.get(Call, entry.call_id).rating = rating
            # 40 s pass: the wrap-up is over (its end was kept when it began).
            for row in db.session.scalars(select(PresenceChange)):
                row.began_at -= timedelta(seconds=40)
            li.wrapup_until -= timedelta(seconds=40)
            db.session.commit()
        # Offers rang 4 s before the answers; the conversation logged holds and a transfer.
        for row in db.session.scalars(select(AgentOffer).where(AgentOffer.outcome == "answered")):
            row.offered_at = row.ended_at - timedelta(seconds=4)
        at = utcnow()
        event(db.session, first.call_id, "held", at, agent="li")
        event(db.session, first.call_id, "resumed", at + timedelta(seconds=20), agent="li")
        event(db.session, second.call_id, "transferred", at, agent="li", to="wang", how="blind")
        db.session.commit()
        now = utcnow() + timedelta(minutes=5)
        figures = performance(db.session, utcnow() - timedelta(hours=1), now, 30.0, now)
    agents = {row["agent"]: row for row in figures["agents"]}
    assert {k: agents["li"][k] for k in ("offered", "answered", "missed", "average_answer",
            "talk", "average_talk", "hold", "holds", "transfers", "average_rating",
            "ratings")} == {"offered": 2, "answered": 2, "missed": 0, "average_answer": 4.0,
                            "talk": 150, "average_talk": 75.0, "hold": 20, "holds": 1,
                            "transfers": 1, "average_rating": 4.0, "ratings": 2}  # fmt: skip
    assert (agents["li"]["wrapup"], agents["li"]["average_wrapup"]) == (60, 30.0)
    assert {k: agents["wang"][k] for k in ("offered", "answered", "missed", "average_answer")} == {
        "offered": 1, "answered": 0, "missed": 1, "average_answer": None}  # fmt: skip
    queues = {row["queue"]: row for row in figures["queues"]}
    general, product = queues["general-zh"], queues["product-zh"]
    assert (general["callers"], general["answered"], general["offered"], general["missed"]) == (
        1, 1, 2, 1)  # fmt: skip
    assert (general["hold"], general["transfers"], general["talk"]) == (20, 0, 60)
    assert (general["average_wrapup"], product["average_wrapup"]) == (30.0, 30.0)
    assert (product["callers"], product["missed"], product["transfers"], product["talk"]) == (
        1, 0, 1, 90)  # fmt: skip
    assert general["abandonment"] == 0.0 and general["average_rating"] == 5.0


def test_an_agent_whose_session_ran_out_during_a_call_stays_away_after_it(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general"])
    with app.app_context():
        li = named(db.session, "li")
        entry = waiting(db.session, 1)
        offer(db.session, li, utcnow())
        db.session.commit()
        call = db.session.get(Call, entry.call_id)
        bridge(db.session, call, entry, li, leg="CA" + "9" * 32)
        li.session_expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        assert expire_sessions(db.session, utcnow()) == [li]
        db.session.commit()
        conversation_over(db.session, entry, status="completed", talk=30, wrapup=30)
        assert li.presence == Presence.AWAY and li.wrapup_until is None
        assert history(db.session, li)[-2:] == [("busy", "talking"), ("away", "session_expired")]
