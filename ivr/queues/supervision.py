"""Supervisors on live calls: every agent and waiting caller now, and what a supervisor may do.

A supervisor listens unheard (monitor), speaks to the agent alone (whisper: Twilio's coaching)
or joins the conversation (barge) by having their phone rung into the call's conference; one
already on the call switches mode by updating their participant. A waiting caller can be moved
to another queue, an agent's presence set. Each action goes in the call's timeline and the
audit log.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ivr.audit import CALLER_MOVE, PRESENCE_SET, SUPERVISOR_JOIN, SUPERVISOR_MODE, audit
from ivr.callflow.call_log import log_event
from ivr.callflow.menu import Menu
from ivr.clock import iso
from ivr.models import Agent, Call, CallEvent, EntryState, Presence, QueueEntry, Role
from ivr.queues.agents import AgentError, active_agent, choose_presence
from ivr.queues.conversation import conference_name
from ivr.queues.entries import CLAIMED, WAITING, caller_still_there, hotline_number
from ivr.queues.waiting import queue_name
from ivr.twilio.rest import (
    TwilioError,
    add_participant,
    live_conference,
    update_call,
    update_participant,
)
from ivr.twilio.urls import with_overrides

MODES = ("monitor", "whisper", "barge")
# Twilio's answer to a whisper to a participant on hold.
COACH_ON_HOLD = 16027
JOINED, SWITCHED, LEFT = "supervisor_joined", "supervisor_mode", "supervisor_left"
Urls = Callable[..., str]


class SupervisionError(AgentError):
    """A supervisor's action that cannot be done; the message says why (translatable)."""


# -- what the live page shows ------------------------------------------------------------------


def _seconds(now: datetime, since: datetime | None) -> int | None:
    return None if since is None else max(0, int((now - since).total_seconds()))


def _until(now: datetime, end: datetime | None) -> int | None:
    """Seconds left until ``end``; None once it has passed."""
    return int((end - now).total_seconds()) if end is not None and end > now else None


@dataclass(frozen=True)
class OnCall:
    """A supervisor on a conversation now, and how."""

    supervisor: str
    mode: str
    leg: str


def supervisors_on(session: Session, call_ids: list[int]) -> dict[int, list[OnCall]]:
    """Who supervises each of these calls now: the legs joined and not left, with their mode."""
    if not call_ids:
        return {}
    events = session.scalars(
        select(CallEvent)
        .where(CallEvent.call_id.in_(call_ids), CallEvent.kind.in_((JOINED, SWITCHED, LEFT)))
        .order_by(CallEvent.at, CallEvent.id)
    ).all()
    legs: dict[int, dict[str, OnCall]] = defaultdict(dict)
    for event in events:
        leg = str(event.detail.get("leg", ""))
        if event.kind == LEFT:
            legs[event.call_id].pop(leg, None)
        else:
            name, mode = str(event.detail.get("supervisor", "")), str(event.detail.get("mode"))
            legs[event.call_id][leg] = OnCall(name, mode, leg)
    return {call_id: list(on.values()) for call_id, on in legs.items()}


def live_agents(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Every enabled agent: presence and since when, and the caller they are rung for or talk to."""
    agents = session.scalars(
        select(Agent).where(Agent.disabled_at.is_(None)).order_by(Agent.name)
    ).all()
    held = session.scalars(
        select(QueueEntry).where(
            QueueEntry.agent_id.is_not(None),
            QueueEntry.state.in_((*CLAIMED, EntryState.BRIDGED)),
            caller_still_there(),
        )
    ).all()
    by_agent = {entry.agent_id: entry for entry in held}
    watching = supervisors_on(session, [e.call_id for e in held if e.state == EntryState.BRIDGED])
    rows = []
    for agent in agents:
        entry = by_agent.get(agent.id)
        row: dict[str, Any] = {
            "id": agent.id,
            "name": agent.name,
            "role": agent.role,
            "presence": agent.presence,
            "since": iso(agent.presence_at),
            "for": _seconds(now, agent.presence_at),
            "wrapup": _until(now, agent.wrapup_until),
            "call": None,
        }
        if entry is not None:
            talking = entry.state == EntryState.BRIDGED
            row["call"] = {
                "entry": entry.id,
                "sid": entry.call_sid,
                "state": "talking" if talking else "ringing",
                "caller": entry.from_number,
                "queue": entry.queue,
                "for": _seconds(now, entry.bridged_at if talking else entry.offered_at),
                "supervisors": [
                    {"name": on.supervisor, "mode": on.mode}
                    for on in watching.get(entry.call_id, [])
                ],
            }
        rows.append(row)
    return rows


def live_waiting(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Every caller in a queue not yet talking, oldest first, with their place in their queue."""
    entries = session.scalars(
        select(QueueEntry)
        .where(QueueEntry.state.in_(WAITING), caller_still_there())
        .order_by(QueueEntry.entered_at, QueueEntry.id)
    ).all()
    places: dict[str, int] = defaultdict(int)
    rows = []
    for entry in entries:
        places[entry.queue] += 1
        rows.append(
            {
                "entry": entry.id,
                "sid": entry.call_sid,
                "caller": entry.from_number,
                "queue": entry.queue,
                "topic": entry.topic,
                "language": entry.language,
                "state": entry.state,
                "waited": _seconds(now, entry.entered_at),
                "position": places[entry.queue],
            }
        )
    return rows


def queue_nodes(menu: Menu) -> list[tuple[str, str]]:
    """(node id, topic) of every queue node a caller can be moved to."""
    return [(node.id, str(node.settings["queue"]))
            for node in menu.nodes.values() if node.type == "queue"]  # fmt: skip


# -- monitor, whisper, barge -------------------------------------------------------------------


def _mode_fields(mode: str, agent_leg: str) -> dict[str, str]:
    """The participant update that puts a supervisor already in the room into ``mode``."""
    if mode == "monitor":
        return {"Muted": "true", "Coaching": "false"}
    if mode == "whisper":
        return {"Muted": "false", "Coaching": "true", "CallSidToCoach": agent_leg}
    return {"Muted": "false", "Coaching": "false"}


def _refused(exc: TwilioError, agent: str) -> SupervisionError:
    if exc.code == COACH_ON_HOLD:
        return SupervisionError(
            "%(agent)s has the caller on hold: a whisper cannot reach them now. "
            "Listen, or try again once the call is resumed.",
            agent=agent,
        )
    return SupervisionError("Twilio refused: %(reason)s", reason=str(exc))


def supervise(
    session: Session,
    config: Any,
    supervisor: Agent,
    entry: QueueEntry,
    mode: str,
    urls: Urls,
) -> str:
    """Put ``supervisor`` on the conversation of ``entry`` in ``mode`` (monitor, whisper, barge).

    Their phone is rung into the call's conference; if they are on it already, their
    participant is switched. Answers "joined" or "switched"; commits.
    """
    if mode not in MODES:
        raise SupervisionError("unknown mode %(mode)s", mode=mode[:16])
    if supervisor.role != Role.SUPERVISOR:
        raise SupervisionError("only supervisors may listen in on calls")
    if entry.state != EntryState.BRIDGED or not entry.agent_call_sid:
        raise SupervisionError("this caller is not talking to an agent now")
    call = session.get(Call, entry.call_id)
    agent = session.get(Agent, entry.agent_id) if entry.agent_id else None
    assert call is not None  # an entry's call row is never removed while it lives
    agent_name = agent.name if agent else "?"
    try:
        room = entry.conference_sid or live_conference(config, conference_name(entry.call_sid))
    except TwilioError as exc:
        raise _refused(exc, agent_name) from exc
    if room is None:
        raise SupervisionError("this caller is not talking to an agent now")
    on = next(
        (o for o in supervisors_on(session, [call.id]).get(call.id, [])
         if o.supervisor == supervisor.name),
        None,
    )  # fmt: skip
    leg, kind = None, JOINED
    if on is not None:
        try:
            update_participant(config, room, on.leg, **_mode_fields(mode, entry.agent_call_sid))
            leg, kind = on.leg, SWITCHED
        except TwilioError as exc:
            if exc.code == COACH_ON_HOLD:
                raise _refused(exc, agent_name) from exc
            # Their leg is gone (hung up, its callback not here yet): ring them anew.
    if leg is None:
        if not supervisor.phone:
            raise SupervisionError(
                "%(name)s has no phone number to be called on", name=supervisor.name
            )
        status = urls("supervise.leg_status", call=call.sid, supervisor=supervisor.id)
        try:
            leg = add_participant(
                config,
                room,
                to=supervisor.phone,
                from_=config.get("HOTLINE_CALLER_ID") or hotline_number(session, entry),
                status_callback=with_overrides(status, config),
                muted=mode == "monitor",
                coach=entry.agent_call_sid if mode == "whisper" else None,
                label=f"supervisor-{supervisor.id}",
            )
        except TwilioError as exc:
            raise _refused(exc, agent_name) from exc
    log_event(session, call, kind, entry.node, supervisor=supervisor.name, mode=mode, leg=leg,
              agent=agent_name)  # fmt: skip
    audit(SUPERVISOR_JOIN if kind == JOINED else SUPERVISOR_MODE,
          actor=f"agent:{supervisor.name}", target=f"call:{call.sid}",
          detail={"mode": mode, "agent": agent_name, "leg": leg})  # fmt: skip
    session.commit()
    return "joined" if kind == JOINED else "switched"


def supervisor_left(session: Session, call: Call, supervisor: Agent | None, leg: str,
                    status: str) -> None:  # fmt: skip
    """A supervisor's leg ended (hung up, or never answered): noted once per leg; commits."""
    seen = session.scalar(
        select(CallEvent.id).where(
            CallEvent.call_id == call.id,
            CallEvent.kind == LEFT,
            CallEvent.detail["leg"].as_string() == leg,
        )
    )
    if seen is None:
        log_event(session, call, LEFT, None,
                  supervisor=supervisor.name if supervisor else None, leg=leg, status=status)  # fmt: skip
    session.commit()


# -- moving a waiting caller -------------------------------------------------------------------


def _next_step(session: Session, call: Call) -> int:
    """A step number no webhook of the call has used, nor will: past the pending Enqueue action
    (which takes the step after the last one logged)."""
    last = session.scalar(
        select(func.max(CallEvent.step)).where(CallEvent.call_id == call.id, CallEvent.step >= 0)
    )
    return (last or 0) + 2


def move_caller(
    session: Session,
    config: Any,
    menu: Menu,
    supervisor: Agent,
    entry: QueueEntry,
    node_id: str,
    urls: Urls,
) -> str:
    """Move a waiting caller to the queue of node ``node_id`` (in their language); its name.

    The stay is marked moved (a compare-and-set: an agent being rung for them keeps them), then
    Twilio is asked to take the call out of its queue into the other node; Twilio's Enqueue
    action then ends the old stay as moved. If Twilio refuses, the caller waits on. Commits.
    """
    node = menu.nodes.get(node_id)
    if node is None or node.type != "queue":
        raise SupervisionError("%(node)s is not a queue of the menu", node=node_id[:64])
    target = queue_name(str(node.settings["queue"]), entry.language)
    if target == entry.queue:
        raise SupervisionError("the caller waits in %(queue)s already", queue=target)
    call = session.get(Call, entry.call_id)
    assert call is not None
    moved = session.execute(
        update(QueueEntry)
        .where(
            QueueEntry.id == entry.id,
            QueueEntry.state == EntryState.WAITING,
            QueueEntry.agent_id.is_(None),
        )
        .values(state=EntryState.MOVED, leave_reason="moved")
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise SupervisionError(
            "the caller is no longer waiting (an agent is being rung for them, or they left)"
        )
    detail = {"from": entry.queue, "to": target, "by": supervisor.name}
    log_event(session, call, "moved", node.id, **detail)
    url = urls("voice.enter_node", node_id=node.id, lang=entry.language,
               s=_next_step(session, call))  # fmt: skip
    session.commit()
    try:
        update_call(config, call.sid, url=url)
    except TwilioError as exc:
        session.execute(
            update(QueueEntry)
            .where(QueueEntry.id == entry.id, QueueEntry.state == EntryState.MOVED,
                   QueueEntry.left_at.is_(None))
            .values(state=EntryState.WAITING, leave_reason=None)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        log_event(session, call, "move_failed", node.id, **detail, error=str(exc)[:200])
        session.commit()
        raise SupervisionError("Twilio refused: %(reason)s", reason=str(exc)) from exc
    audit(CALLER_MOVE, actor=f"agent:{supervisor.name}", target=f"call:{call.sid}", detail=detail)
    session.commit()
    session.refresh(entry)
    return target


# -- an agent's presence -----------------------------------------------------------------------


def set_agent_presence(
    session: Session, supervisor: Agent, agent: Agent, presence: Presence
) -> None:
    """A supervisor sets an agent's presence (as the agent would); audited; commits.

    The caller runs ``distribute_now()`` after: an agent made available may be rung at once.
    """
    if supervisor.role != Role.SUPERVISOR:
        raise SupervisionError("only supervisors may set another agent's presence")
    active_agent(agent)
    before = agent.presence
    choose_presence(agent, presence)
    audit(PRESENCE_SET, actor=f"agent:{supervisor.name}", target=f"agent:{agent.name}",
          detail={"presence": presence.value, "before": str(before)})  # fmt: skip
    session.commit()
