"""A caller's stay in a queue, state by state: plain functions over the database.

States (EntryState): waiting → offered (an agent's phone rings) → bridged (the agent answered;
the caller is moved into the conversation's conference) → done; a caller who
asks to be called back keeps their place as callback → dialing → done; a stay ends as left
(message, timeout, full) or abandoned (hung up). Every change is a compare-and-set on the row's
state, so two agents, or two processes, never take one caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select, update
from sqlalchemy.orm import Session

from ivr.callflow.call_log import TERMINAL, log_event
from ivr.clock import utcnow
from ivr.models import Agent, Call, CallEvent, EntryState, Outcome, Presence, QueueEntry
from ivr.queues.agent_history import offer_answered, offer_given_back, offer_made
from ivr.queues.agents import AgentError, active_agent, can_serve, finish_call, ready, set_presence
from ivr.twilio.rest import create_call
from ivr.twilio.urls import with_overrides

STARTED = "conversation_started"  # the event: an agent and the caller are in the room together
OFFERABLE = (EntryState.WAITING, EntryState.CALLBACK)  # may be offered to an agent
CLAIMED = (EntryState.OFFERED, EntryState.DIALING)  # an agent's phone rings for them
WAITING = (EntryState.WAITING, EntryState.OFFERED)
IN_QUEUE = (EntryState.WAITING, EntryState.OFFERED, EntryState.BRIDGED)
# A stay that has ended never opens again: a late webhook must not bring a caller back.
ENDED = (EntryState.DONE, EntryState.LEFT, EntryState.ABANDONED, EntryState.MOVED)


@dataclass(frozen=True)
class Offer:
    """A caller (or callback) handed to an agent."""

    entry_id: int
    call_sid: str
    queue: str
    callback: bool
    waited: int


def reserve_agent(session: Session, agent: Agent, now: datetime) -> bool:
    """Mark a ready agent busy, if they still are ready: a compare-and-set on their row.

    Two requests for one agent at once (a double click, the board and the API) reserve them
    once: an agent never holds two offers.
    """
    reserved = session.execute(
        update(Agent)
        .where(
            Agent.id == agent.id,
            Agent.presence == Presence.AVAILABLE,
            Agent.disabled_at.is_(None),
            or_(Agent.wrapup_until.is_(None), Agent.wrapup_until <= now),
        )
        .values(presence=Presence.BUSY, presence_at=now, wrapup_until=None, last_offered_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(agent)
    return reserved.rowcount == 1  # type: ignore[attr-defined]


def offer(session: Session, agent: Agent, now: datetime) -> QueueEntry | None:
    """Give a ready agent the longest-waiting caller (or call-back request) they can serve.

    The agent is reserved first, then the caller claimed; each is a compare-and-set, so a caller
    is never offered to two agents and an agent never holds two offers. With nobody to offer
    (or the agent taken meanwhile) nothing changes. The caller commits.
    """
    before = (agent.presence_at, agent.last_offered_at)
    if not reserve_agent(session, agent, now):
        return None
    entry = claim_longest_waiting(session, agent, now)
    if entry is None:  # nobody for them
        _unreserve(session, agent, before)
    return entry


def claim_longest_waiting(session: Session, agent: Agent, now: datetime) -> QueueEntry | None:
    """Assign the agent the entry that has waited longest among queues they serve.

    A compare-and-set on the entry's state means two agents taking at once never get the
    same caller: the loser moves on to the next candidate.
    """
    candidates = session.scalars(
        select(QueueEntry)
        .where(
            QueueEntry.state.in_(OFFERABLE),
            QueueEntry.agent_id.is_(None),
            # A callback is for a caller who has hung up; anyone else must still be on the line.
            or_(QueueEntry.state == EntryState.CALLBACK, caller_still_there()),
        )
        .order_by(QueueEntry.entered_at, QueueEntry.id)
    ).all()
    for entry in candidates:
        if can_serve(agent, entry.topic, entry.language) and claim(session, entry, agent, now):
            return entry
    return None


def claim(session: Session, entry: QueueEntry, agent: Agent, now: datetime) -> bool:
    """Offer this caller (or call-back request) to the agent, if nobody has meanwhile."""
    offered = EntryState.OFFERED if entry.state == EntryState.WAITING else EntryState.DIALING
    claimed = session.execute(
        update(QueueEntry)
        .where(
            QueueEntry.id == entry.id,
            QueueEntry.state == entry.state,
            QueueEntry.state.in_(OFFERABLE),
            QueueEntry.agent_id.is_(None),
        )
        .values(state=offered, agent_id=agent.id, offered_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(entry)
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    offer_made(session, entry, agent, now)
    return True


def offer_to(session: Session, entry: QueueEntry, agent: Agent, now: datetime) -> bool:
    """Offer this caller to this agent: both compare-and-sets of ``offer``, for one pair."""
    before = (agent.presence_at, agent.last_offered_at)
    if not reserve_agent(session, agent, now):
        return False
    if claim(session, entry, agent, now):
        return True
    _unreserve(session, agent, before)
    return False


def _unreserve(session: Session, agent: Agent, before: tuple[datetime, datetime | None]) -> None:
    """Ready again after a reservation that found nobody: idle and last offered as before."""
    session.execute(
        update(Agent)
        .where(Agent.id == agent.id, Agent.presence == Presence.BUSY)
        .values(presence=Presence.AVAILABLE, presence_at=before[0], last_offered_at=before[1])
        .execution_options(synchronize_session=False)
    )
    session.refresh(agent)


def take_next(session: Session, agent: Agent, config: Any, urls: Any) -> Offer | None:
    """Connect the agent to the caller who has waited longest (or call back the oldest request).

    ``urls(endpoint, **values)`` builds the absolute URLs Twilio fetches for the agent's leg.
    """
    now = utcnow()
    active_agent(agent)
    if not ready(agent, now):
        raise AgentError(f"{agent.name} is {agent.presence} and cannot take a caller now")
    if not agent.phone:
        raise AgentError(f"{agent.name} has no phone number to be called on")
    entry = offer(session, agent, now)
    session.commit()
    if entry is None:
        return None
    return ring(session, entry, agent, config, urls)


def ring(
    session: Session, entry: QueueEntry, agent: Agent, config: Any, urls: Any, *, timeout: int = 30
) -> Offer:
    """Call the agent's phone for the caller offered to them (committed), ringing ``timeout`` s.

    ``urls(endpoint, **values)`` builds the absolute URLs Twilio fetches for the agent's leg.
    If Twilio cannot place the call, the caller goes back in line and the agent is free again.
    """
    now = entry.offered_at or utcnow()
    callback = entry.state == EntryState.DIALING
    endpoint = "agent.callback" if callback else "agent.connect"
    try:
        sid = create_call(
            config,
            to=agent.phone,
            from_=config.get("HOTLINE_CALLER_ID") or hotline_number(session, entry),
            url=urls(endpoint, entry=entry.id, agent=agent.id),
            timeout=timeout,
            status_callback=with_overrides(
                urls("agent.status", entry=entry.id, agent=agent.id), config
            ),
        )
    except Exception:
        # Whatever went wrong, the caller goes back in line and the agent is free again.
        session.rollback()
        release(session, entry, agent, presence=Presence.AVAILABLE, why="failed")
        raise
    # The agent may have answered already (the bridge noted the same sid then).
    session.execute(
        update(QueueEntry)
        .where(
            QueueEntry.id == entry.id,
            QueueEntry.agent_id == agent.id,
            QueueEntry.agent_call_sid.is_(None),
        )
        .values(agent_call_sid=sid)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    waited = int((now - entry.entered_at).total_seconds())
    return Offer(entry.id, entry.call_sid, entry.queue, callback, waited)


def hotline_number(session: Session, entry: QueueEntry) -> str:
    """The number the caller dialled: what the agent's phone shows when no caller ID is set."""
    call = session.get(Call, entry.call_id)
    return call.to_number if call is not None and call.to_number else "anonymous"


def release(
    session: Session,
    entry: QueueEntry,
    agent: Agent | None,
    *,
    presence: Presence,
    why: str = "missed",
) -> None:
    """Give an offered caller back to the queue (the agent did not answer or Twilio failed).

    A caller whose call ended meanwhile is not put back: their stay ends as abandoned. ``why``
    (Twilio's status of the agent's leg, "failed", "withdrawn", "disabled") is kept with the offer.
    """
    if entry.state == EntryState.OFFERED and entry.conference_sid is not None:
        entry.state = EntryState.LEFT  # a consultation: the caller is still with the first agent
    elif entry.state == EntryState.OFFERED:
        call = session.get(Call, entry.call_id)
        gone = call is not None and call.status in TERMINAL
        entry.state = EntryState.ABANDONED if gone else EntryState.WAITING
    elif entry.state == EntryState.DIALING:
        entry.state = EntryState.CALLBACK
    entry.agent_id = None
    entry.offered_at = None
    # The missed leg is forgotten: the next agent's leg is noted by ``ring``, and its status
    # (a second miss in a row) is then this offer's, not another agent's to ignore.
    entry.agent_call_sid = None
    if agent is not None:
        set_presence(agent, presence, offer_given_back(session, entry, agent, why, utcnow()))
    session.commit()


def caller_still_there() -> ColumnElement[bool]:
    """Entries whose call has no final status yet: a caller who hung up is waiting for no one."""
    return ~exists().where(Call.id == QueueEntry.call_id, Call.status.in_(TERMINAL))


def open_entry(session: Session, call_sid: str, queue: str) -> QueueEntry | None:
    """The caller's current stay in ``queue``."""
    return session.scalar(
        select(QueueEntry)
        .where(QueueEntry.call_sid == call_sid, QueueEntry.queue == queue)
        .order_by(QueueEntry.id.desc())
        .limit(1)
    )


def enter(
    session: Session,
    call: Call,
    *,
    queue: str,
    topic: str,
    language: str,
    node: str,
    step: int | None = None,
) -> QueueEntry:
    """The caller's open stay in ``queue``, or a new one (their first wait request)."""
    entry = open_entry(session, call.sid, queue)
    # A moved caller's hold music may be asked for once more before Twilio takes them out.
    leaving = entry is not None and entry.state == EntryState.MOVED and entry.left_at is None
    if entry is None or (entry.state not in IN_QUEUE and not leaving):
        entry = QueueEntry(
            call_id=call.id,
            call_sid=call.sid,
            queue=queue,
            topic=topic,
            language=language,
            node=node,
            from_number=call.from_number,
            step=step,
        )
        session.add(entry)
        session.flush()
    elif step is not None and (entry.step is None or step > entry.step):
        entry.step = step  # back in line (a new Enqueue), or a stay a transfer opened for them
    return entry


def time_out(
    session: Session, call: Call, entry: QueueEntry, *, node: str, waited: int, max_wait: int
) -> bool:
    """Whether a waiting caller has waited as long as the queue allows, and must leave it.

    Noted once: Twilio's retry of the same request gets the same answer without a second event.
    """
    if waited < max_wait or entry.state != EntryState.WAITING:
        return False
    if entry.leave_reason != "timeout":
        entry.leave_reason = "timeout"
        log_event(session, call, "queue_timeout", node, queue=entry.queue, waited=waited)
    return True


def announced(entry: QueueEntry, waited: int) -> None:
    """The caller was told their position and wait, ``waited`` seconds into it."""
    entry.announced_wait = waited
    entry.announcements += 1


def ask_to_leave(
    session: Session, call: Call, entry: QueueEntry, reason: str, *, node: str, digits: str
) -> bool:
    """A waiting caller chose to leave for ``reason`` ("message" or "callback") with a key.

    False when they are no longer waiting (an agent is being rung for them): they stay.
    """
    if entry.state != EntryState.WAITING:
        return False
    if entry.leave_reason != reason:  # else Twilio's retry: logged once
        entry.leave_reason = reason
        log_event(session, call, "queue_key", node, queue=entry.queue, digits=digits, chose=reason)
    return True


def left_queue(
    session: Session, call: Call, entry: QueueEntry | None, *, result: str, waited: int
) -> str:
    """Twilio's Enqueue action: the caller left the queue with ``result`` (its QueueResult).

    Answers what became of the stay: "conversation" (moved into the agent's conference),
    "bridged" (talked to an agent by a direct bridge), "abandoned" (hung up), "callback" (keeps
    their place to be called back), "moved" (a supervisor moved them to another queue:
    ``ivr.queues.supervision``) or "left" (anything else).
    """
    if entry is not None and entry.left_at is None:
        entry.left_at = utcnow()
        entry.result = result
        if entry.wait_seconds is None:
            entry.wait_seconds = waited
    if result == "redirected" and entry is not None and entry.state == EntryState.BRIDGED:
        # Moved into the conversation's conference by the agent's answer (Twilio's clock).
        entry.wait_seconds = waited
        call.outcome = Outcome.AGENT
        return "conversation"
    if result == "redirected" and entry is not None and entry.state in WAITING:
        # A move for a conversation that has come to nothing since (the agent left before the
        # room): the stay waits on, with its place.
        entry.left_at = entry.result = None
        return "conversation"
    if entry is not None and entry.state == EntryState.MOVED:
        return "moved"  # the update's URL puts them in the other queue; this answer is ignored
    if result == "bridged":
        if entry is not None and entry.state not in ENDED:
            entry.state = EntryState.DONE
        call.outcome = Outcome.AGENT
        return "bridged"
    if result == "hangup":
        if entry is not None:
            abandon(session, entry)
        if call.outcome in (None, Outcome.SELF_SERVICE):
            call.outcome = Outcome.ABANDONED
        return "abandoned"
    if result == "leave" and entry is not None and entry.leave_reason == "callback":
        entry.state = EntryState.CALLBACK  # keeps entered_at: its place in line
        call.outcome = Outcome.CALLBACK
        return "callback"
    if entry is not None and entry.state not in ENDED:
        entry.state = EntryState.LEFT
    return "left"


def abandon(session: Session, entry: QueueEntry) -> None:
    """The caller hung up while waiting; an agent being rung for them is free again."""
    if entry.state not in (EntryState.WAITING, EntryState.OFFERED):
        return
    if entry.agent_id is not None:
        agent = session.get(Agent, entry.agent_id)
        release(session, entry, agent, presence=Presence.AVAILABLE, why="withdrawn")
    entry.state = EntryState.ABANDONED


def bridge(
    session: Session, call: Call, entry: QueueEntry, agent: Agent, *, leg: str
) -> str | None:
    """The agent answered on ``leg``: the caller offered to them is theirs to talk to.

    Answers "new" when the bridge is made now, "again" for Twilio's retry of the same answer, and
    None when the caller is no longer offered to this agent (they hung up, or the offer moved on).
    """
    if entry.state == EntryState.BRIDGED and entry.agent_id == agent.id:
        return "again" if entry.agent_call_sid == leg else None
    now = utcnow()
    waited = int((now - entry.entered_at).total_seconds())
    bridged = session.execute(
        update(QueueEntry)
        .where(
            QueueEntry.id == entry.id,
            QueueEntry.state == EntryState.OFFERED,
            QueueEntry.agent_id == agent.id,
        )
        .values(state=EntryState.BRIDGED, bridged_at=now, wait_seconds=waited, agent_call_sid=leg)
        .execution_options(synchronize_session=False)
    )
    session.refresh(entry)
    if bridged.rowcount != 1:  # type: ignore[attr-defined]
        return None
    agent.missed_offers = 0  # answered: misses count in a row
    offer_answered(session, entry, agent, now)
    log_event(session, call, "bridged", entry.node, queue=entry.queue, agent=agent.name,
              waited=waited)  # fmt: skip
    return "new"


def _back_in_line(entry: QueueEntry, state: EntryState) -> None:
    """Forget the agent a stay was bridged with: waiting again with its place (or ended)."""
    entry.state = state
    entry.agent_id = entry.offered_at = entry.bridged_at = entry.agent_call_sid = None
    entry.wait_seconds = entry.left_at = entry.result = entry.talk_seconds = None
    entry.conference_sid = None


def unbridge(session: Session, call: Call, entry: QueueEntry, agent: Agent, *, gone: bool) -> None:
    """The caller could not be moved to the agent who answered: back in line with their place
    (or ended as abandoned when ``gone``), and the agent free again. The caller commits."""
    if entry.state != EntryState.BRIDGED or entry.agent_id != agent.id:
        return
    _back_in_line(entry, EntryState.ABANDONED if gone else EntryState.WAITING)
    set_presence(agent, Presence.AVAILABLE, "withdrawn")
    log_event(session, call, "bridge_failed", entry.node, queue=entry.queue, agent=agent.name,
              caller_gone=gone)  # fmt: skip


CALLBACK_TRIES = 2  # unanswered call-backs before the request is given up


def callback_unanswered(session: Session, entry: QueueEntry, *, status: str) -> bool:
    """The customer did not answer the call-back: the request keeps its place for another try,
    or is given up after CALLBACK_TRIES; the agent is free. True when the agent's leg must end.
    The caller commits."""
    if entry.state != EntryState.DIALING:
        return False
    call = session.get(Call, entry.call_id)
    agent = session.get(Agent, entry.agent_id) if entry.agent_id else None
    if call is None:
        return False
    log_event(session, call, "callback_unanswered", entry.node, status=status,
              agent=agent.name if agent else None)  # fmt: skip
    session.flush()
    tries = (
        session.scalar(
            select(func.count()).where(
                CallEvent.call_id == call.id, CallEvent.kind == "callback_unanswered"
            )
        )
        or 0
    )
    entry.caller_leg = None
    release(session, entry, agent, presence=Presence.AVAILABLE, why="unanswered")
    if tries >= CALLBACK_TRIES:
        entry.state = EntryState.LEFT
        log_event(session, call, "callback_gave_up", entry.node, tries=tries)
    return True


def note_conference(session: Session, caller_sid: str, conference_sid: str) -> None:
    """The conversation of caller ``caller_sid`` is in conference ``conference_sid`` (noted once)."""
    if not conference_sid:
        return
    session.execute(
        update(QueueEntry)
        .where(
            QueueEntry.call_sid == caller_sid,
            QueueEntry.state == EntryState.BRIDGED,
            QueueEntry.conference_sid.is_(None),
        )
        .values(conference_sid=conference_sid)
        .execution_options(synchronize_session=False)
    )


def joined_consultation(session: Session, caller_sid: str, agent_id: int, leg: str) -> None:
    """The agent consulted for caller ``caller_sid`` answered and is in the room: their stay is
    bridged (warm transfer)."""
    entry = session.scalar(
        select(QueueEntry).where(
            QueueEntry.call_sid == caller_sid,
            QueueEntry.agent_id == agent_id,
            QueueEntry.state == EntryState.OFFERED,
            QueueEntry.conference_sid.is_not(None),
        )
    )
    agent = session.get(Agent, agent_id)
    call = session.get(Call, entry.call_id) if entry is not None else None
    if entry is None or agent is None or call is None:
        return
    if bridge(session, call, entry, agent, leg=leg) == "new":
        log_event(session, call, STARTED, entry.node)  # in the room with the caller now


def conversation_started(session: Session, entry: QueueEntry) -> bool:
    """Whether the agent who answered for ``entry`` was ever in the room with the caller (the
    conference reported its start after the answer; for a call-back, after the offer)."""
    since = entry.bridged_at or (entry.offered_at if entry.caller_leg else None)
    if since is None:
        return False
    return session.scalar(
        select(exists().where(
            CallEvent.call_id == entry.call_id,
            CallEvent.kind == STARTED,
            CallEvent.at >= since,
        ))
    ) or False  # fmt: skip


def never_reached(session: Session, entry: QueueEntry) -> bool:
    """Whether the conversation of ``entry`` ended without the agent ever being in the room with
    the caller (they hung up during the whisper): the caller still waits in it."""
    return (
        entry.state == EntryState.DONE and entry.bridged_at is not None
        and not conversation_started(session, entry)
    )  # fmt: skip


def reopen(session: Session, call: Call, entry: QueueEntry) -> None:
    """Back in line with their place, for a caller whose agent never reached the room."""
    agent = session.get(Agent, entry.agent_id) if entry.agent_id else None
    log_event(session, call, "bridge_failed", entry.node, queue=entry.queue,
              agent=agent.name if agent else None, caller_gone=False)  # fmt: skip
    _back_in_line(entry, EntryState.WAITING)


def talk_over(entry: QueueEntry) -> None:
    """The caller's side of the conversation ended (they are back from the conference)."""
    if entry.state == EntryState.BRIDGED:
        entry.state = EntryState.DONE


def conversation_over(
    session: Session,
    entry: QueueEntry,
    *,
    status: str,
    talk: int,
    wrapup: float,
    agent_id: int | None = None,
    customer_answered: bool | None = None,
) -> None:
    """The agent's Dial ended with ``status``: a talk is over, or an offer came to nothing.

    ``agent_id``: the agent whose Dial it was; a late one, for a caller offered to someone else
    since, changes nothing. ``customer_answered``: whether the called-back customer answered, as
    Twilio says; unknown (None), it is judged by their room's start on record, whose report can
    come after the agent's leg ended.
    """
    if agent_id is not None and entry.agent_id != agent_id:
        return
    if (
        entry.state == EntryState.DIALING
        and entry.caller_leg
        and not (
            conversation_started(session, entry) if customer_answered is None else customer_answered
        )
    ):
        status = "unanswered"  # the agent left the room before the customer came into it
    agent = session.get(Agent, entry.agent_id) if entry.agent_id else None
    # A <Dial><Number> ends "completed"; a <Dial><Conference> the agent was in, "answered".
    if status in ("completed", "answered") and entry.state in (
        EntryState.BRIDGED,
        EntryState.DONE,
        EntryState.DIALING,
    ):
        # Told twice (the agent's Dial action and their leg's status, maybe on two machines at
        # once): the first one counts, by a compare-and-set.
        talked = (
            session.execute(
                update(QueueEntry)
                .where(QueueEntry.id == entry.id, QueueEntry.talk_seconds.is_(None))
                .values(talk_seconds=talk)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            == 1
        )
        session.refresh(entry)
        call = session.get(Call, entry.call_id)
        name = agent.name if agent else None
        if entry.state == EntryState.DIALING:  # a callback that reached the customer
            entry.state = EntryState.DONE
            if call is not None:
                log_event(session, call, "callback_done", entry.node, agent=name, talk=talk)
        elif call is not None and talked:
            entry.state = EntryState.DONE
            log_event(session, call, "conversation_ended", entry.node, agent=name, talk=talk)
        if agent is not None and talked:
            finish_call(agent, wrapup)
        session.commit()
    elif entry.state in CLAIMED:
        release(session, entry, agent, presence=Presence.AVAILABLE, why=status)
    elif agent is not None:
        finish_call(agent, wrapup)
        session.commit()


MISSED = frozenset({"no-answer", "busy", "failed", "canceled"})


def leg_ended(
    session: Session,
    entry: QueueEntry,
    agent: Agent | None,
    *,
    status: str,
    wrapup: float,
    talk: int = 0,
    leg: str = "",
    after_miss: Callable[[Agent], Presence] | None = None,
    customer_answered: bool | None = None,
) -> bool:
    """The agent's leg reached a final ``status``; True when an offer was missed.

    An agent who did not answer gives the caller back and is marked away, so callers are not
    offered to them again; ``after_miss(agent)`` may say otherwise (an automatic queue counts
    misses in a row). ``customer_answered``: as for ``conversation_over``.
    """
    # Only this leg's own offer: a late status must not withdraw another agent's.
    ours = (agent is None or entry.agent_id == agent.id) and (
        not leg or not entry.agent_call_sid or entry.agent_call_sid == leg
    )
    if status in MISSED and entry.state in CLAIMED and ours:
        presence = Presence.AWAY if agent is None or after_miss is None else after_miss(agent)
        release(session, entry, agent, presence=presence, why=status)
        return True
    if status == "completed" and entry.state == EntryState.OFFERED and ours and agent is not None:
        # Answered, but never bridged (the connect failed, or a consulted agent left before
        # reaching the room): the caller is given back, as after a missed offer.
        release(session, entry, agent, presence=Presence.AVAILABLE, why="unbridged")
        return True
    talking = (
        entry.state in (EntryState.BRIDGED, EntryState.DONE) and entry.bridged_at is not None
    ) or (entry.state == EntryState.DIALING and entry.caller_leg is not None)
    ours = agent is not None and entry.agent_id == agent.id and entry.talk_seconds is None
    if status == "completed" and talking and ours:
        # The agent hung up in the conversation; their Dial action may not come (or come later).
        conversation_over(session, entry, status="answered", talk=talk, wrapup=wrapup,
                          customer_answered=customer_answered)  # fmt: skip
        return False
    if status == "completed" and agent is not None and agent.presence == Presence.BUSY:
        finish_call(agent, wrapup)
        session.commit()
    return False


def refuse_disabled_agent(session: Session, entry: QueueEntry, agent: Agent | None) -> bool:
    """True when the agent on this leg was disabled while their phone rang: the caller goes
    back in line and the agent stays away."""
    if agent is None or agent.disabled_at is None:
        return False
    if entry.agent_id == agent.id and entry.state in CLAIMED:
        release(session, entry, agent, presence=Presence.AWAY, why="disabled")
    return True
