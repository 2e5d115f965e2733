"""What an agent does to a live conversation: hold and resume, mute, hang up, and a blind
transfer of the caller to another queue.

Each is a change of a conference participant or of a call at Twilio. Holds are put on the
caller's timeline when the conference reports them (``queue.conference``), so a hold made from
anywhere is logged once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.callflow.call_log import log_event
from ivr.callflow.menu import Menu
from ivr.models import Agent, Call, EntryState, QueueEntry
from ivr.queues.agents import AgentError
from ivr.queues.conversation import conference_name
from ivr.queues.entries import talk_over
from ivr.twilio.rest import live_conference, update_call, update_participant

Urls = Callable[..., str]


def live_conversation(session: Session, agent: Agent) -> QueueEntry | None:
    """The caller the agent is talking to now, if any."""
    return session.scalar(
        select(QueueEntry)
        .where(QueueEntry.agent_id == agent.id, QueueEntry.state == EntryState.BRIDGED)
        .order_by(QueueEntry.bridged_at.desc())
        .limit(1)
    )


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
    update_participant(config, _room(config, entry), entry.call_sid, **fields)
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


def transfer_to_queue(
    session: Session, agent: Agent, menu: Menu, node_id: str, config: Any, urls: Urls
) -> QueueEntry:
    """Hand the caller to another queue (blind): they leave the conversation and wait there,
    in their own language; the agent's talk ends as they leave."""
    node = menu.nodes.get(node_id)
    if node is None or node.type != "queue":
        raise AgentError("%(node)s is not a queue", node=node_id)
    entry = _conversation(session, agent)
    call = session.get(Call, entry.call_id)
    assert call is not None
    # After the conversation's own steps (joined, talked): the caller's next webhooks go on.
    step = (entry.step or 0) + 3
    url = urls("voice.enter_node", node_id=node.id, lang=entry.language, s=step)
    update_call(config, entry.call_sid, url=url)  # nothing is written until Twilio took it
    talk_over(entry)
    log_event(session, call, "transferred", entry.node, agent=agent.name, to=node.id, how="blind")
    session.commit()
    return entry
