"""What an agent does to a live conversation: hold and resume, mute, hang up, transfers and
adding a phone number.

Each is a change of a conference participant or of a call at Twilio. Holds are put on the
caller's timeline when the conference reports them (``queue.conference``), so a hold made from
anywhere is logged once.

Transfers:
- blind, to a queue: the caller leaves the conversation and waits in that queue;
- blind, to an agent: the caller goes back to their queue's music with an offer to that agent
  already made; if the agent does not answer, the caller stays in line for anyone;
- warm (consult): the caller is held while the other agent's phone is rung into the room; the
  two agents talk, then the first hands over (leaves) or makes it a three-way call.
Every second stay offered by a transfer names the agent who transferred (``transferred_from``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ivr.audit import audit
from ivr.callflow.call_log import log_event
from ivr.callflow.menu import Menu
from ivr.clock import utcnow
from ivr.database import db
from ivr.hotline import hotline
from ivr.models import Agent, Call, EntryState, Presence, QueueEntry
from ivr.queues.agent_history import offer_made
from ivr.queues.agents import (
    E164,
    AgentError,
    active_agent,
    can_serve,
    find_agent,
    set_presence,
)
from ivr.queues.conversation import conference_name
from ivr.queues.distribution import rules_for
from ivr.queues.entries import hotline_number, reserve_agent, ring, talk_over
from ivr.queues.recording import stop as stop_recording
from ivr.twilio.rest import (
    TwilioError,
    add_participant,
    live_conference,
    update_call,
    update_participant,
)
from ivr.twilio.urls import external_url

log = logging.getLogger(__name__)
Urls = Callable[..., str]


def live_conversation(session: Session, agent: Agent) -> QueueEntry | None:
    """The caller the agent is talking to now (or calling back), if any."""
    return session.scalar(
        select(QueueEntry)
        .where(
            QueueEntry.agent_id == agent.id,
            or_(
                QueueEntry.state == EntryState.BRIDGED,
                (QueueEntry.state == EntryState.DIALING) & QueueEntry.caller_leg.is_not(None),
            ),
        )
        .order_by(QueueEntry.id.desc())
        .limit(1)
    )


def caller_in_room(entry: QueueEntry) -> str:
    """The caller's leg in the room: their own call, or the call-back's leg to them."""
    return entry.caller_leg or entry.call_sid


def _not_a_callback(entry: QueueEntry) -> None:
    if entry.state == EntryState.DIALING:
        raise AgentError("a call-back cannot be transferred; hold, mute and adding a number work")


def _conversation(session: Session, agent: Agent) -> QueueEntry:
    entry = live_conversation(session, agent)
    if entry is None or not entry.agent_call_sid:
        raise AgentError("%(name)s is not in a conversation", name=agent.name)
    return entry


def _room(config: Any, entry: QueueEntry) -> str:
    """The conversation's conference sid: noted from its first report, else asked of Twilio."""
    sid = entry.conference_sid or live_conference(config, conference_name(entry.call_sid))
    if not sid:
        raise AgentError("the caller has not joined the conversation yet")
    return sid


def hold(session: Session, agent: Agent, config: Any, urls: Urls, *, on: bool) -> QueueEntry:
    """Put the agent's caller on hold (they hear the queue's music), or take them off it."""
    entry = _conversation(session, agent)
    fields = {"Hold": str(on).lower()}
    if on:
        fields |= {"HoldUrl": urls("queue.music"), "HoldMethod": "POST"}
    update_participant(config, _room(config, entry), caller_in_room(entry), **fields)
    return entry


def mute(session: Session, agent: Agent, config: Any, *, on: bool) -> QueueEntry:
    """Mute the agent's own line in the conversation (the caller stops hearing them), or not."""
    entry = _conversation(session, agent)
    assert entry.agent_call_sid is not None
    update_participant(config, _room(config, entry), entry.agent_call_sid, Muted=str(on).lower())
    return entry


def hang_up(session: Session, agent: Agent, config: Any) -> QueueEntry:
    """End the agent's leg: the conversation ends and the caller goes on to rate it."""
    entry = _conversation(session, agent)
    assert entry.agent_call_sid is not None
    update_call(config, entry.agent_call_sid, status="completed")
    return entry


def pause_recording(session: Session, agent: Agent, *, on: bool) -> QueueEntry:
    """Pause the conversation's recording (silence in the file: a card number, a password), or
    resume it; on the caller's timeline and in the audit log."""
    entry = _conversation(session, agent)
    at = hotline().recorder.pause(session, entry, on=on)
    if at is None:
        raise AgentError("this conversation is not being recorded")
    kind = "recording_paused" if on else "recording_resumed"
    call = session.get(Call, entry.call_id)
    if call is not None:
        log_event(session, call, kind, entry.node, agent=agent.name, at=round(at, 1))
    audit(kind, target=entry.call_sid, detail={"entry": entry.id, "at": round(at, 1)})
    session.commit()
    return entry


def transfer_to_queue(
    session: Session, agent: Agent, menu: Menu, node_id: str, config: Any, urls: Urls
) -> QueueEntry:
    """Hand the caller to another queue (blind): they leave the conversation and wait there,
    in their own language; the agent's talk ends as they leave."""
    node = menu.nodes.get(node_id)
    if node is None or node.type != "queue":
        raise AgentError("%(node)s is not a queue", node=node_id)
    entry = _conversation(session, agent)
    _not_a_callback(entry)
    call = session.get(Call, entry.call_id)
    assert call is not None
    # After the conversation's own steps (joined, talked): the caller's next webhooks go on.
    step = (entry.step or 0) + 3
    url = urls("voice.enter_node", node_id=node.id, lang=entry.language, s=step)
    update_call(config, entry.call_sid, url=url)  # nothing is written until Twilio took it
    stop_recording(session, entry)  # the next agent's conversation gets its own
    talk_over(entry)
    log_event(session, call, "transferred", entry.node, agent=agent.name, to=node.id, how="blind")
    session.commit()
    return entry


def _target(session: Session, agent: Agent, target: Agent) -> None:
    """Check that ``target`` can be offered the caller now, and reserve them (busy)."""
    if target.id == agent.id:
        raise AgentError("you cannot transfer a caller to yourself")
    active_agent(target)
    if not target.phone:
        raise AgentError("%(name)s has no phone number to be called on", name=target.name)
    if not reserve_agent(session, target, utcnow()):
        raise AgentError("%(name)s is not free to take a caller now", name=target.name)


def _second_stay(session: Session, entry: QueueEntry, agent: Agent, target: Agent,
                 **values: Any) -> QueueEntry:  # fmt: skip
    """The caller's stay offered to ``target`` by ``agent``'s transfer (added, not committed)."""
    now = utcnow()
    stay = QueueEntry(
        call_id=entry.call_id, call_sid=entry.call_sid, queue=entry.queue, topic=entry.topic,
        language=entry.language, node=entry.node, from_number=entry.from_number,
        state=EntryState.OFFERED, agent_id=target.id, offered_at=now, entered_at=now,
        transferred_from=agent.id, **values,
    )  # fmt: skip
    session.add(stay)
    session.flush()
    offer_made(session, stay, target, now)
    return stay


def _undo_offer(session: Session, stay: QueueEntry, target: Agent) -> None:
    """Twilio refused: the second stay ends, and the target is free again."""
    stay.state = EntryState.LEFT
    stay.agent_id = None
    set_presence(target, Presence.AVAILABLE, "failed")
    session.commit()


def transfer_to_agent(
    session: Session, agent: Agent, target: Agent, config: Any, urls: Urls, *, ring_timeout: int
) -> QueueEntry:
    """Blind transfer to ``target``: the caller hears their queue's music while ``target``'s phone
    rings; unanswered, the caller stays in that line for anyone. The new stay is committed
    before the caller moves, so their first wait request finds it."""
    entry = _conversation(session, agent)
    _not_a_callback(entry)
    if not can_serve(target, entry.topic, entry.language):
        raise AgentError("%(name)s does not serve this caller's queue", name=target.name)
    _target(session, agent, target)
    # The caller's next Enqueue is numbered after the conversation's steps (as ``url`` below).
    stay = _second_stay(session, entry, agent, target, step=(entry.step or 0) + 4)
    session.commit()
    url = urls("voice.enter_node", node_id=entry.node, lang=entry.language,
               s=(entry.step or 0) + 3)  # fmt: skip
    try:
        update_call(config, entry.call_sid, url=url)
    except TwilioError:
        _undo_offer(session, stay, target)
        raise
    stop_recording(session, entry)
    call = session.get(Call, entry.call_id)
    assert call is not None
    talk_over(entry)
    log_event(session, call, "transferred", entry.node, agent=agent.name, to=target.name,
              how="blind")  # fmt: skip
    session.commit()
    ring(session, stay, target, config, urls, timeout=ring_timeout)
    return stay


def consult(
    session: Session, agent: Agent, target: Agent, config: Any, urls: Urls, *, ring_timeout: int
) -> QueueEntry:
    """Warm transfer, first half: the caller is held and ``target``'s phone is rung into the room,
    where the two agents talk before ``hand_over`` or ``three_way``."""
    entry = _conversation(session, agent)
    _not_a_callback(entry)
    room = _room(config, entry)
    _target(session, agent, target)
    stay = _second_stay(session, entry, agent, target, conference_sid=room, step=entry.step)
    session.commit()
    try:
        update_participant(config, room, caller_in_room(entry), Hold="true",
                           HoldUrl=urls("queue.music"), HoldMethod="POST")  # fmt: skip
        leg = add_participant(
            config, room, to=target.phone,
            from_=config.get("HOTLINE_CALLER_ID") or hotline_number(session, entry),
            status_callback=urls("agent.status", entry=stay.id, agent=target.id),
            timeout=ring_timeout, label=f"consult-{target.id}",
        )  # fmt: skip
    except TwilioError:
        _undo_offer(session, stay, target)
        consult_missed(config, stay)  # the caller may be on hold already
        raise
    stay.agent_call_sid = leg
    call = session.get(Call, entry.call_id)
    assert call is not None
    log_event(session, call, "consulting", entry.node, agent=agent.name, to=target.name)
    session.commit()
    return stay


def consultation(session: Session, entry: QueueEntry, agent: Agent) -> QueueEntry | None:
    """The agent ``agent`` consulted for the caller of ``entry``, once they are in the room."""
    return session.scalar(
        select(QueueEntry)
        .where(
            QueueEntry.call_sid == entry.call_sid,
            QueueEntry.transferred_from == agent.id,
            QueueEntry.state == EntryState.BRIDGED,
            QueueEntry.conference_sid.is_not(None),
        )
        .order_by(QueueEntry.id.desc())
        .limit(1)
    )


def hand_over(session: Session, agent: Agent, config: Any, *, leave: bool) -> QueueEntry:
    """Warm transfer, second half: the consulted agent keeps the caller (who is taken off hold);
    the first agent leaves (``leave``) or stays for a three-way call."""
    entry = _conversation(session, agent)
    other = consultation(session, entry, agent)
    if other is None or not other.agent_call_sid:
        raise AgentError("nobody has joined your consultation yet")
    room = _room(config, entry)
    assert entry.agent_call_sid is not None
    # The conversation now ends with the consulted agent, not with this one.
    update_participant(config, room, other.agent_call_sid, EndConferenceOnExit="true")
    update_participant(config, room, entry.agent_call_sid, EndConferenceOnExit="false")
    update_participant(config, room, caller_in_room(entry), Hold="false")
    call = session.get(Call, entry.call_id)
    assert call is not None
    target = session.get(Agent, other.agent_id) if other.agent_id else None
    how = "warm" if leave else "three_way"
    log_event(session, call, "transferred", entry.node, agent=agent.name,
              to=target.name if target else None, how=how)  # fmt: skip
    session.commit()
    if leave:
        update_call(config, entry.agent_call_sid, status="completed")
    return entry


def add_number(session: Session, agent: Agent, number: str, config: Any) -> QueueEntry:
    """Ring a phone number (a courier, a colleague outside) into the conversation."""
    entry = _conversation(session, agent)
    if not E164.fullmatch(number):
        raise AgentError("%(number)s is not a phone number in international form (+86…)",
                         number=number[:20])  # fmt: skip
    allowed = [p.strip() for p in config["HOTLINE_DIAL_PREFIXES"].split(",") if p.strip()]
    if not any(number.startswith(prefix) for prefix in allowed):
        raise AgentError("the hotline may not call %(number)s (allowed: %(prefixes)s)",
                         number=number, prefixes=", ".join(allowed) or "-")  # fmt: skip
    room = _room(config, entry)
    add_participant(config, room, to=number,
                    from_=config.get("HOTLINE_CALLER_ID") or hotline_number(session, entry),
                    label="guest")  # fmt: skip
    call = session.get(Call, entry.call_id)
    assert call is not None
    log_event(session, call, "number_added", entry.node, agent=agent.name, number=number)
    session.commit()
    return entry


def back_in_line(config: Any, entry: QueueEntry) -> None:
    """Move a caller whose agent never reached the room back to their queue, where their stay
    waits with its place (best effort: whatever room state they are in, a call update works)."""
    url = external_url("voice.enter_node", node_id=entry.node, lang=entry.language,
                       s=(entry.step or 0) + 3)  # fmt: skip
    try:
        update_call(config, entry.call_sid, url=url)
    except TwilioError as exc:
        log.info("caller %s not moved back to the queue: %s", entry.call_sid, exc)


def consult_missed(config: Any, entry: QueueEntry) -> None:
    """The consulted agent did not answer: the caller, held for it, hears the first agent again
    (best effort: the first agent can still resume them)."""
    if not entry.conference_sid:
        return
    try:
        update_participant(config, entry.conference_sid, caller_in_room(entry), Hold="false")
    except TwilioError as exc:
        log.info("caller %s not taken off hold: %s", entry.call_sid, exc)


CONTROLS = ("hold", "resume", "mute", "unmute", "hang_up", "transfer", "consult", "hand_over",
            "three_way", "add_number", "pause_recording", "resume_recording")  # fmt: skip


def act(by: Agent, action: str, **values: str | None) -> QueueEntry:
    """One control of agent ``by`` by name, for the views (API and board); ``values``: queue,
    agent (the other agent's name), number."""
    agent = by
    session, config, menu = db.session, current_app.config, hotline().menu
    if action in ("hold", "resume"):
        return hold(session, agent, config, external_url, on=action == "hold")
    if action in ("mute", "unmute"):
        return mute(session, agent, config, on=action == "mute")
    if action == "hang_up":
        return hang_up(session, agent, config)
    if action in ("pause_recording", "resume_recording"):
        return pause_recording(session, agent, on=action == "pause_recording")
    if action in ("hand_over", "three_way"):
        return hand_over(session, agent, config, leave=action == "hand_over")
    if action == "add_number":
        return add_number(session, agent, values.get("number") or "", config)
    if action == "transfer" and values.get("queue"):
        return transfer_to_queue(session, agent, menu, values["queue"] or "", config, external_url)
    if action in ("transfer", "consult") and values.get("agent"):
        target = find_agent(session, values["agent"] or "")
        entry = _conversation(session, agent)
        timeout = rules_for(menu, entry.topic).ring_timeout
        move = transfer_to_agent if action == "transfer" else consult
        return move(session, agent, target, config, external_url, ring_timeout=timeout)
    raise AgentError("say which queue or agent to transfer to")
