"""Automatic distribution (every queue's default): free agents are rung by the hotline itself;
a queue set ``distribution: manual`` waits for an agent to press "Take next".

The longest-waiting caller (call-back requests keep their place) is offered to the eligible agent
idle longest (or, with ``strategy: round_robin``, the one offered a caller least recently): available, out of wrap-up, speaking the caller's language, serving the topic. An
offer that rings out or is declined goes to the next agent; an agent who misses ``max_misses``
offers in a row is set away. Each offer is the two compare-and-sets of ``entries.offer_to``, so
any number of processes may distribute at once: a caller is never offered to two agents and an
agent never holds two offers.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ivr.callflow.menu import Menu
from ivr.clock import utcnow
from ivr.database import db
from ivr.hotline import hotline
from ivr.models import Agent, EntryState, Presence, QueueEntry
from ivr.queues.agents import can_serve, expire_sessions
from ivr.queues.entries import OFFERABLE, Offer, caller_still_there, offer_to, ring
from ivr.twilio.rest import TwilioError
from ivr.twilio.urls import external_url

log = logging.getLogger(__name__)
NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class QueueRules:
    """How a queue's callers reach agents (the queue node's settings in the menu)."""

    automatic: bool = True
    ring_timeout: int = 20  # seconds an agent's phone rings before the offer moves on
    max_misses: int = 2  # offers missed in a row before the agent is set away
    round_robin: bool = False  # else the agent free longest goes first


def rules_for(menu: Menu, topic: str) -> QueueRules:
    """The rules of the queue for ``topic``: from the first queue node that serves it."""
    for node in menu.nodes.values():
        if node.type == "queue" and node.settings.get("queue") == topic:
            return QueueRules(
                automatic=node.settings.get("distribution", "automatic") == "automatic",
                ring_timeout=int(node.settings.get("ring_timeout", 20)),
                max_misses=int(node.settings.get("max_misses", 2)),
                round_robin=node.settings.get("strategy", "longest_idle") == "round_robin",
            )
    return QueueRules()


def automatic_topics(menu: Menu) -> set[str]:
    """The topics whose queues ring agents by themselves."""
    topics = {str(n.settings.get("queue")) for n in menu.nodes.values() if n.type == "queue"}
    return {topic for topic in topics if rules_for(menu, topic).automatic}


def idle_since(agent: Agent) -> datetime:
    """When the agent last became free: available, or out of wrap-up, whichever is later."""
    return max(agent.presence_at or NEVER, agent.wrapup_until or NEVER)


def turn_order(agents: list[Agent], rules: QueueRules) -> list[Agent]:
    """Who is offered first: free longest, or (round robin) offered least recently."""
    if rules.round_robin:
        return sorted(agents, key=lambda a: (a.last_offered_at or NEVER, idle_since(a), a.id))
    return sorted(agents, key=lambda a: (idle_since(a), a.id))


def distribute(session: Session, menu: Menu, config: Any, urls: Callable[..., str]) -> list[Offer]:
    """Ring an eligible free agent for every waiting caller of an automatic queue that has one.

    Called whenever a caller enters or waits on, an agent becomes available, or an offer fails.
    Commits each offer before the agent's phone is rung.
    """
    topics = automatic_topics(menu)
    if not topics:
        return []
    now = utcnow()
    waiting = session.scalars(
        select(QueueEntry)
        .where(
            QueueEntry.state.in_(OFFERABLE),
            QueueEntry.agent_id.is_(None),
            QueueEntry.topic.in_(topics),
            or_(QueueEntry.state == EntryState.CALLBACK, caller_still_there()),
        )
        .order_by(QueueEntry.entered_at, QueueEntry.id)
    ).all()
    if not waiting:
        session.commit()
        return []
    free = list(
        session.scalars(
            select(Agent).where(
                Agent.presence == Presence.AVAILABLE,
                Agent.disabled_at.is_(None),
                Agent.phone != "",
                or_(Agent.wrapup_until.is_(None), Agent.wrapup_until <= now),
                # Until the tick sets them away: a session that ran out rings no phone.
                or_(Agent.session_expires_at.is_(None), Agent.session_expires_at > now),
            )
        )
    )
    offers = []
    for entry in waiting:
        rules = rules_for(menu, entry.topic)
        eligible = [a for a in free if can_serve(a, entry.topic, entry.language)]
        for agent in turn_order(eligible, rules):
            # Each ring before this one took a request to Twilio: the offer is dated when made.
            if not offer_to(session, entry, agent, utcnow()):
                if agent.presence != Presence.AVAILABLE:
                    free.remove(agent)  # taken meanwhile (another process, take-next)
                if entry.state not in OFFERABLE:
                    break  # the caller was taken meanwhile
                continue
            free.remove(agent)
            session.commit()
            try:
                offers.append(ring(session, entry, agent, config, urls, timeout=rules.ring_timeout))
            except TwilioError:
                log.warning("could not ring %s for queue entry %s", agent.name, entry.id)
            break
    session.commit()
    return offers


def distribute_now() -> None:
    """After a view committed a change: wake this process's distributor, which rings agents
    at once (the webhook does not wait for Twilio to place those calls); with none running,
    distribute here."""
    running = current_app.extensions.get("hotline.distributor")
    if running is None:
        distribute_here()
    else:
        running[2].set()


def distribute_here() -> None:
    """``distribute`` for the running app, now.

    A failure here is logged and goes no further: the request that triggered it (a caller's
    hold music, an agent's button) must not fail because an agent could not be rung.
    """
    try:
        distribute(db.session, hotline().menu, current_app.config, external_url)
    except DBAPIError as exc:
        # The database is away (or restarting): /readyz says so; one line per attempt is enough.
        db.session.rollback()
        log.warning("automatic distribution could not reach the database: %s", type(exc.orig))
    except Exception:
        db.session.rollback()
        log.exception("automatic distribution failed; the next trigger tries again")


def missed(agent: Agent, rules: QueueRules) -> Presence:
    """The agent let an automatic queue's offer ring out or declined it: away after too many."""
    agent.missed_offers += 1
    return Presence.AWAY if agent.missed_offers >= rules.max_misses else Presence.AVAILABLE


# An agent's wrap-up ends with no request to say so: a tick this often notices, and sooner when
# a wrap-up ends before the next tick. Every process ticks; the compare-and-sets make that safe,
# and a quiet tick is three small queries.
TICK_SECONDS = 1.0
# After the wrap-up's end, so that the agent is free when the tick looks.
PAST_WRAPUP = timedelta(milliseconds=5)


def start_distributor(app: Flask) -> bool:
    """Tick ``distribute`` in this process if the menu has an automatic queue; once per app."""
    if "hotline.distributor" in app.extensions:
        return False
    with app.app_context():
        if not automatic_topics(hotline().menu):
            return False
    stop, wake = threading.Event(), threading.Event()
    # The tick holds the app weakly: an app that is dropped (a test's, a reloaded one) takes its
    # tick with it instead of leaving it to run against a database that is gone.
    thread = threading.Thread(target=_tick, args=(weakref.ref(app), stop, wake),
                              name="hotline-distributor", daemon=True)  # fmt: skip
    app.extensions["hotline.distributor"] = (thread, stop, wake)
    thread.start()
    return True


def stop_distributor(app: Flask) -> None:
    """Stop this process's tick (tests, shutdown)."""
    running = app.extensions.pop("hotline.distributor", None)
    if running is not None:
        thread, stop, wake = running
        stop.set()
        wake.set()
        thread.join(timeout=10)


def away_when_expired() -> None:
    """Set away the agents whose web session ran out; a failure waits for the next tick."""
    try:
        expire_sessions(db.session, utcnow())
        db.session.commit()
    except DBAPIError as exc:  # the database away or busy: the next tick tries again
        db.session.rollback()
        log.warning("could not look for expired sessions: %s", type(exc.orig))
    except Exception:
        db.session.rollback()
        log.exception("could not set away the agents whose session ran out")


def next_tick(session: Session, now: datetime) -> float:
    """Seconds until the next tick: TICK_SECONDS, or just after the next wrap-up's end if sooner."""
    ends = session.scalar(
        select(func.min(Agent.wrapup_until)).where(
            Agent.presence == Presence.AVAILABLE, Agent.wrapup_until > now
        )
    )
    if ends is None:
        return TICK_SECONDS
    return min(TICK_SECONDS, (ends + PAST_WRAPUP - now).total_seconds())


def _tick(app_ref: weakref.ref[Flask], stop: threading.Event, wake: threading.Event) -> None:
    """Distribute when woken by a request's change, else every tick (wrap-ups ending)."""
    wait = TICK_SECONDS
    while True:
        wake.wait(wait)
        wake.clear()
        app = app_ref()
        if stop.is_set() or app is None:
            return
        # url_for needs a request: the URLs Twilio fetches are absolute on PUBLIC_BASE_URL.
        with app.test_request_context("/"):
            away_when_expired()
            distribute_here()
            try:
                wait = next_tick(db.session, utcnow())
                db.session.commit()
            except Exception:  # the database is away: distribute_now said so already
                db.session.rollback()
                wait = TICK_SECONDS
            db.session.remove()
        del app  # not held while waiting: a dropped app ends the loop
