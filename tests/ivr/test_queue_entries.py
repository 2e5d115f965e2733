"""A queue stay's states as plain functions over the real database, without HTTP."""

from __future__ import annotations

import threading
from datetime import timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import Agent, Call, CallEvent, EntryState, Outcome, Presence, QueueEntry
from ivr.queues.entries import (
    abandon,
    ask_to_leave,
    bridge,
    conversation_over,
    enter,
    left_queue,
    leg_ended,
    offer,
    offer_to,
    release,
    time_out,
    unbridge,
)
from tests.factories import add_agent


def a_call(session: Session, sid: str, *, ago: int = 0) -> Call:
    call = Call(sid=sid, from_number="+8613800000000", to_number="+861010000000")
    call.started_at = utcnow() - timedelta(seconds=ago)
    session.add(call)
    session.flush()
    return call


def waiting(session: Session, sid: str, *, ago: int = 0, topic: str = "general") -> QueueEntry:
    call = a_call(session, sid, ago=ago)
    entry = enter(session, call, queue=f"{topic}-zh", topic=topic, language="zh", node="queue_zh")
    entry.entered_at = utcnow() - timedelta(seconds=ago)
    session.commit()
    return entry


def agent_named(session: Session, name: str) -> Agent:
    return session.scalars(select(Agent).where(Agent.name == name)).one()


def events(session: Session, call: Call) -> list[str]:
    return [e.kind for e in session.scalars(select(CallEvent).where(CallEvent.call_id == call.id))]


def test_entering_twice_is_one_stay_and_a_new_one_after_it_ended(app: Flask) -> None:
    with app.app_context():
        entry = waiting(db.session, "CA" + "1" * 32)
        call = db.session.get(Call, entry.call_id)
        again = enter(db.session, call, queue="general-zh", topic="general", language="zh",
                      node="queue_zh")  # fmt: skip
        assert again.id == entry.id
        left_queue(db.session, call, entry, result="leave", waited=5)
        assert entry.state == EntryState.LEFT
        later = enter(db.session, call, queue="general-zh", topic="general", language="zh",
                      node="queue_zh")  # fmt: skip
        assert later.id != entry.id and later.state == EntryState.WAITING


def test_the_longest_waiting_caller_the_agent_can_serve_is_offered(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["payment"])
    with app.app_context():
        waiting(db.session, "CA" + "1" * 32, ago=90, topic="product")  # li does not serve it
        newer = waiting(db.session, "CA" + "2" * 32, ago=30, topic="payment")
        older = waiting(db.session, "CA" + "3" * 32, ago=60, topic="payment")
        li = agent_named(db.session, "li")
        got = offer(db.session, li, utcnow())
        db.session.commit()
        assert got is not None and got.id == older.id
        assert got.state == EntryState.OFFERED and got.agent_id == li.id
        assert li.presence == Presence.BUSY
        # Busy now: a second offer to the same agent gives nothing, the newer caller waits.
        assert offer(db.session, li, utcnow()) is None
        db.session.refresh(newer)
        assert newer.state == EntryState.WAITING and newer.agent_id is None


def test_nobody_to_offer_leaves_the_agent_ready_and_idle_since_as_before(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general"])
    with app.app_context():
        li = agent_named(db.session, "li")
        since = li.presence_at
        assert offer(db.session, li, utcnow() + timedelta(seconds=5)) is None
        db.session.commit()
        db.session.refresh(li)
        assert li.presence == Presence.AVAILABLE and li.presence_at == since


def test_an_agent_in_wrap_up_or_away_is_offered_nobody(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general"])
    add_agent(app, "wang", ["zh"], ["general"], available=False)
    with app.app_context():
        entry = waiting(db.session, "CA" + "1" * 32)
        li = agent_named(db.session, "li")
        li.wrapup_until = utcnow() + timedelta(seconds=30)
        db.session.commit()
        assert offer(db.session, li, utcnow()) is None
        assert offer(db.session, agent_named(db.session, "wang"), utcnow()) is None
        db.session.refresh(entry)
        assert entry.state == EntryState.WAITING
        assert offer(db.session, li, utcnow() + timedelta(seconds=31)) is not None


def test_two_agents_racing_for_one_caller_one_gets_them(app: Flask) -> None:
    for name in ("li", "wang"):
        add_agent(app, name, ["zh"], ["general"])
    with app.app_context():
        waiting(db.session, "CA" + "1" * 32)
    start = threading.Barrier(2)
    got: dict[str, int | None] = {}

    def take(name: str) -> None:
        with app.app_context():
            agent = agent_named(db.session, name)
            start.wait()
            entry = offer(db.session, agent, utcnow())
            db.session.commit()
            got[name] = entry.id if entry else None
            db.session.remove()

    threads = [threading.Thread(target=take, args=(name,)) for name in ("li", "wang")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(v is not None for v in got.values()) == [False, True], got
    with app.app_context():
        winner = next(name for name, entry in got.items() if entry is not None)
        loser = next(name for name in got if name != winner)
        entry = db.session.scalars(select(QueueEntry)).one()
        assert entry.agent_id == agent_named(db.session, winner).id
        assert agent_named(db.session, winner).presence == Presence.BUSY
        assert agent_named(db.session, loser).presence == Presence.AVAILABLE


def test_one_agent_taking_twice_at_once_holds_one_offer(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general"])
    with app.app_context():
        waiting(db.session, "CA" + "1" * 32, ago=20)
        waiting(db.session, "CA" + "2" * 32, ago=10)
    start = threading.Barrier(2)
    got: list[int | None] = []

    def take() -> None:
        with app.app_context():
            agent = agent_named(db.session, "li")
            start.wait()
            entry = offer(db.session, agent, utcnow())
            db.session.commit()
            got.append(entry.id if entry else None)
            db.session.remove()

    threads = [threading.Thread(target=take) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(v is not None for v in got) == 1, got
    with app.app_context():
        states = sorted(e.state for e in db.session.scalars(select(QueueEntry)))
        assert states == [EntryState.OFFERED, EntryState.WAITING]


def test_an_offer_that_fails_gives_the_caller_back_and_the_agent_is_away(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general"])
    with app.app_context():
        entry = waiting(db.session, "CA" + "1" * 32)
        li = agent_named(db.session, "li")
        offer(db.session, li, utcnow())
        db.session.commit()
        leg_ended(db.session, entry, li, status="no-answer", wrapup=30)
        assert entry.state == EntryState.WAITING and entry.agent_id is None
        assert li.presence == Presence.AWAY


def test_a_caller_who_hung_up_while_offered_is_not_put_back(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general"])
    with app.app_context():
        entry = waiting(db.session, "CA" + "1" * 32)
        li = agent_named(db.session, "li")
        offer(db.session, li, utcnow())
        db.session.get(Call, entry.call_id).status = "completed"
        db.session.commit()
        release(db.session, entry, li, presence=Presence.AVAILABLE)
        assert entry.state == EntryState.ABANDONED
        assert li.presence == Presence.AVAILABLE


def test_abandoning_frees_the_agent_being_rung(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general"])
    with app.app_context():
        entry = waiting(db.session, "CA" + "1" * 32)
        li = agent_named(db.session, "li")
        offer(db.session, li, utcnow())
        db.session.commit()
        call = db.session.get(Call, entry.call_id)
        assert left_queue(db.session, call, entry, result="hangup", waited=12) == "abandoned"
        assert entry.state == EntryState.ABANDONED and entry.wait_seconds == 12
        assert call.outcome == Outcome.ABANDONED
        assert li.presence == Presence.AVAILABLE
        abandon(db.session, entry)  # twice: nothing more
        assert entry.state == EntryState.ABANDONED


def test_bridge_talk_and_wrap_up(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general"])
    with app.app_context():
        entry = waiting(db.session, "CA" + "1" * 32, ago=40)
        call = db.session.get(Call, entry.call_id)
        li = agent_named(db.session, "li")
        offer(db.session, li, utcnow())
        db.session.commit()
        leg = "CA" + "9" * 32
        assert bridge(db.session, call, entry, li, leg=leg) == "new"
        assert entry.state == EntryState.BRIDGED and entry.agent_call_sid == leg
        assert 40 <= entry.wait_seconds <= 42
        # Twilio's retry of the agent's answer changes nothing; another leg is not this one.
        assert bridge(db.session, call, entry, li, leg=leg) == "again"
        assert bridge(db.session, call, entry, li, leg="CA" + "8" * 32) is None
        assert events(db.session, call).count("bridged") == 1
        # The call update moves the caller into the conference: Twilio's clock says the wait.
        assert left_queue(db.session, call, entry, result="redirected", waited=41) == "conversation"
        assert entry.state == EntryState.BRIDGED and entry.wait_seconds == 41
        assert call.outcome == Outcome.AGENT
        conversation_over(db.session, entry, status="answered", talk=75, wrapup=30)
        assert entry.talk_seconds == 75 and entry.state == EntryState.DONE
        assert li.presence == Presence.AVAILABLE and li.wrapup_until > utcnow()
        # The agent's leg status after the Dial action: told once, the first one counts.
        leg_ended(db.session, entry, li, status="completed", wrapup=30, talk=80)
        assert entry.talk_seconds == 75
        assert events(db.session, call).count("conversation_ended") == 1


def test_a_caller_who_could_not_be_moved_goes_back_in_line(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general"])
    with app.app_context():
        entry = waiting(db.session, "CA" + "1" * 32, ago=20)
        call = db.session.get(Call, entry.call_id)
        li = agent_named(db.session, "li")
        offer(db.session, li, utcnow())
        assert bridge(db.session, call, entry, li, leg="CA" + "9" * 32) == "new"
        unbridge(db.session, call, entry, li, gone=False)
        db.session.commit()
        assert (entry.state, entry.agent_id, entry.bridged_at) == (EntryState.WAITING, None, None)
        assert li.presence == Presence.AVAILABLE
        # Offered again and this time Twilio says the call has ended: abandoned, not back.
        assert offer(db.session, li, utcnow()) is entry
        assert bridge(db.session, call, entry, li, leg="CA" + "7" * 32) == "new"
        unbridge(db.session, call, entry, li, gone=True)
        assert entry.state == EntryState.ABANDONED
        assert events(db.session, call).count("bridge_failed") == 2


def test_an_agent_answering_for_a_caller_offered_to_another_bridges_nothing(app: Flask) -> None:
    for name in ("li", "wang"):
        add_agent(app, name, ["zh"], ["general"])
    with app.app_context():
        entry = waiting(db.session, "CA" + "1" * 32, ago=20)
        call = db.session.get(Call, entry.call_id)
        li, wang = agent_named(db.session, "li"), agent_named(db.session, "wang")
        assert offer(db.session, li, utcnow()) is entry
        assert bridge(db.session, call, entry, wang, leg="CA" + "b" * 32) is None
        assert entry.state == EntryState.OFFERED and entry.agent_id == li.id


def test_a_timeout_and_a_key_are_noted_once(app: Flask) -> None:
    with app.app_context():
        entry = waiting(db.session, "CA" + "1" * 32)
        call = db.session.get(Call, entry.call_id)
        assert not time_out(db.session, call, entry, node="q", waited=100, max_wait=600)
        assert time_out(db.session, call, entry, node="q", waited=600, max_wait=600)
        assert time_out(db.session, call, entry, node="q", waited=601, max_wait=600)
        assert ask_to_leave(db.session, call, entry, "callback", node="q", digits="2")
        assert ask_to_leave(db.session, call, entry, "callback", node="q", digits="2")
        db.session.commit()
        kinds = events(db.session, call)
        assert kinds.count("queue_timeout") == 1 and kinds.count("queue_key") == 1


def test_a_callback_request_keeps_its_place_in_line(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general"])
    with app.app_context():
        asked = waiting(db.session, "CA" + "1" * 32, ago=300)
        newer = waiting(db.session, "CA" + "2" * 32, ago=10)
        call = db.session.get(Call, asked.call_id)
        assert ask_to_leave(db.session, call, asked, "callback", node="q", digits="2")
        assert left_queue(db.session, call, asked, result="leave", waited=300) == "callback"
        call.status = "completed"  # they hung up: a callback waits for no one on the line
        db.session.commit()
        got = offer(db.session, agent_named(db.session, "li"), utcnow())
        assert got is not None and got.id == asked.id and got.state == EntryState.DIALING
        db.session.refresh(newer)
        assert newer.state == EntryState.WAITING


def test_an_ended_stay_is_never_offered_nor_bridged(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general"])
    with app.app_context():
        entry = waiting(db.session, "CA" + "1" * 32)
        call = db.session.get(Call, entry.call_id)
        left_queue(db.session, call, entry, result="leave", waited=3)
        db.session.commit()
        li = agent_named(db.session, "li")
        assert offer(db.session, li, utcnow()) is None
        assert bridge(db.session, call, entry, li, leg="CA" + "9" * 32) is None
        assert entry.state == EntryState.LEFT


def race(app: Flask, attempts: list[tuple[str, int]]) -> list[bool]:
    """Offer each (agent name, entry id) at once from its own thread and session."""
    start = threading.Barrier(len(attempts))
    got: list[bool] = [False] * len(attempts)

    def attempt(i: int, name: str, entry_id: int) -> None:
        with app.app_context():
            agent = agent_named(db.session, name)
            entry = db.session.get(QueueEntry, entry_id)
            start.wait()
            got[i] = offer_to(db.session, entry, agent, utcnow())
            db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=attempt, args=(i, *a)) for i, a in enumerate(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return got


def test_one_caller_offered_to_two_agents_at_once_goes_to_one(app: Flask) -> None:
    for name in ("li", "wang"):
        add_agent(app, name, ["zh"], ["general"])
    with app.app_context():
        entry_id = waiting(db.session, "CA" + "1" * 32).id
        idle_since = {n: agent_named(db.session, n).presence_at for n in ("li", "wang")}
    got = race(app, [("li", entry_id), ("wang", entry_id)])
    assert sorted(got) == [False, True], got
    winner, loser = ("li", "wang") if got[0] else ("wang", "li")
    with app.app_context():
        entry = db.session.get(QueueEntry, entry_id)
        assert entry.state == EntryState.OFFERED
        assert entry.agent_id == agent_named(db.session, winner).id
        assert agent_named(db.session, winner).presence == Presence.BUSY
        # The loser is ready again and keeps their place among idle agents.
        assert agent_named(db.session, loser).presence == Presence.AVAILABLE
        assert agent_named(db.session, loser).presence_at == idle_since[loser]


def test_one_agent_offered_two_callers_at_once_holds_one(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general"])
    with app.app_context():
        first = waiting(db.session, "CA" + "1" * 32, ago=20).id
        second = waiting(db.session, "CA" + "2" * 32, ago=10).id
    got = race(app, [("li", first), ("li", second)])
    assert sorted(got) == [False, True], got
    with app.app_context():
        li = agent_named(db.session, "li")
        held = db.session.scalars(select(QueueEntry).where(QueueEntry.agent_id == li.id)).all()
        assert len(held) == 1 and held[0].state == EntryState.OFFERED
        states = sorted(e.state for e in db.session.scalars(select(QueueEntry)))
        assert states == [EntryState.OFFERED, EntryState.WAITING]
        assert li.presence == Presence.BUSY


def test_an_offer_to_a_caller_already_offered_or_ended_is_refused(app: Flask) -> None:
    for name in ("li", "wang"):
        add_agent(app, name, ["zh"], ["general"])
    with app.app_context():
        entry = waiting(db.session, "CA" + "1" * 32)
        li, wang = agent_named(db.session, "li"), agent_named(db.session, "wang")
        assert offer_to(db.session, entry, li, utcnow())
        db.session.commit()
        assert not offer_to(db.session, entry, wang, utcnow())
        assert wang.presence == Presence.AVAILABLE and entry.agent_id == li.id
        release(db.session, entry, li, presence=Presence.AVAILABLE)
        call = db.session.get(Call, entry.call_id)
        left_queue(db.session, call, entry, result="hangup", waited=5)
        db.session.commit()
        assert not offer_to(db.session, entry, wang, utcnow())
        assert entry.state == EntryState.ABANDONED and wang.presence == Presence.AVAILABLE


def test_leaving_for_a_message_a_full_queue_or_an_error_is_left(app: Flask) -> None:
    with app.app_context():
        for n, result in enumerate(("leave", "queue-full", "error", "system-error")):
            entry = waiting(db.session, "CA" + str(n) * 32)
            call = db.session.get(Call, entry.call_id)
            if result == "leave":
                assert ask_to_leave(db.session, call, entry, "message", node="q", digits="1")
            assert left_queue(db.session, call, entry, result=result, waited=7) == "left"
            assert entry.state == EntryState.LEFT and entry.result == result
            assert entry.left_at is not None and entry.wait_seconds == 7
            assert call.outcome is None
        db.session.commit()


def test_a_caller_being_offered_can_neither_leave_by_key_nor_time_out(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general"])
    with app.app_context():
        entry = waiting(db.session, "CA" + "1" * 32)
        call = db.session.get(Call, entry.call_id)
        offer(db.session, agent_named(db.session, "li"), utcnow())
        db.session.commit()
        assert not ask_to_leave(db.session, call, entry, "callback", node="q", digits="2")
        assert not time_out(db.session, call, entry, node="q", waited=900, max_wait=600)
        assert entry.state == EntryState.OFFERED and entry.leave_reason is None
        assert "queue_key" not in events(db.session, call)


def test_a_call_back_that_fails_goes_back_to_its_place(app: Flask) -> None:
    add_agent(app, "li", ["zh"], ["general"])
    with app.app_context():
        entry = waiting(db.session, "CA" + "1" * 32, ago=300)
        call = db.session.get(Call, entry.call_id)
        ask_to_leave(db.session, call, entry, "callback", node="q", digits="2")
        left_queue(db.session, call, entry, result="leave", waited=300)
        call.status = "completed"
        db.session.commit()
        entered = entry.entered_at
        li = agent_named(db.session, "li")
        assert offer(db.session, li, utcnow()) is entry and entry.state == EntryState.DIALING
        db.session.commit()
        release(db.session, entry, li, presence=Presence.AVAILABLE)
        assert entry.state == EntryState.CALLBACK and entry.agent_id is None
        assert entry.entered_at == entered and li.presence == Presence.AVAILABLE


def test_an_answered_offer_that_never_bridged_gives_the_caller_back(app: Flask) -> None:
    """The agent answered (their connect failed, or they hung up at once): the leg's completed
    status gives the caller back instead of leaving them offered for ever."""
    add_agent(app, "li", ["zh"], ["general"])
    with app.app_context():
        entry = waiting(db.session, "CA" + "1" * 32, ago=30)
        li = agent_named(db.session, "li")
        assert offer(db.session, li, utcnow()) is entry
        entry.agent_call_sid = leg = "CA" + "9" * 32
        db.session.commit()
        assert leg_ended(db.session, entry, li, status="completed", wrapup=0, leg=leg)
        assert (entry.state, entry.agent_id) == (EntryState.WAITING, None)
        assert li.presence == Presence.AVAILABLE


def test_late_reports_of_one_agent_leave_another_agent_s_offer_alone(app: Flask) -> None:
    for name in ("li", "wang"):
        add_agent(app, name, ["zh"], ["general"])
    with app.app_context():
        entry = waiting(db.session, "CA" + "1" * 32, ago=30)
        li, wang = agent_named(db.session, "li"), agent_named(db.session, "wang")
        assert offer_to(db.session, entry, wang, utcnow())
        entry.agent_call_sid = "CA" + "b" * 32
        db.session.commit()
        # li's earlier leg: its Dial action and a repeated no-answer arrive late.
        conversation_over(db.session, entry, status="answered", talk=5, wrapup=0, agent_id=li.id)
        assert not leg_ended(db.session, entry, li, status="no-answer", wrapup=0,
                             leg="CA" + "a" * 32)  # fmt: skip
        assert not leg_ended(db.session, entry, wang, status="no-answer", wrapup=0,
                             leg="CA" + "a" * 32)  # fmt: skip
        db.session.refresh(entry)
        assert (entry.state, entry.agent_id) == (EntryState.OFFERED, wang.id)
