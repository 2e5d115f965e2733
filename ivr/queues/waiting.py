"""Agent queues: who may wait where, how long they can expect to wait, and what they hear."""

from __future__ import annotations

import math

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from ivr.callflow.flow import Flow
from ivr.callflow.menu import Menu, Node
from ivr.database import db
from ivr.models import Agent, Presence, QueueEntry
from ivr.queues.agents import can_serve
from ivr.queues.entries import WAITING, caller_still_there
from ivr.queues.recording import records, say_notice
from ivr.twilio.twiml import speak
from ivr.twilio.urls import external_url

DEFAULT_HANDLE_SECONDS = 180.0
RECENT_CALLS = 20


def queue_name(topic: str, language: str) -> str:
    """Twilio's queue for a topic in a language, e.g. ``product-zh``."""
    return f"{topic}-{language}"


def signed_in_agents(session: Session, topic: str, language: str) -> list[Agent]:
    """Agents not away who can serve the queue (available, busy or wrapping up)."""
    agents = session.scalars(
        select(Agent).where(Agent.presence != Presence.AWAY, Agent.disabled_at.is_(None))
    ).all()
    return [agent for agent in agents if can_serve(agent, topic, language)]


def waiting_count(session: Session, queue: str) -> int:
    """Callers in a queue not yet talking to an agent."""
    return (
        session.scalar(
            select(func.count())
            .select_from(QueueEntry)
            .where(QueueEntry.queue == queue, QueueEntry.state.in_(WAITING), caller_still_there())
        )
        or 0
    )


def handle_seconds(session: Session, topic: str, wrapup: float) -> float:
    """Average talk time of the topic's recent answered calls, plus wrap-up."""
    recent = session.scalars(
        select(QueueEntry.talk_seconds)
        .where(QueueEntry.topic == topic, QueueEntry.talk_seconds.is_not(None))
        .order_by(QueueEntry.bridged_at.desc())
        .limit(RECENT_CALLS)
    ).all()
    talk = sum(recent) / len(recent) if recent else DEFAULT_HANDLE_SECONDS
    return talk + wrapup


def estimate_wait(position: int, agents: int, handle: float) -> int:
    """Seconds until a caller at ``position`` is answered: whole rounds of the agents' calls.

    An agent in the middle of a call frees up, on average, half a call from now.
    """
    if position < 1:
        return 0
    rounds = math.ceil(position / max(agents, 1))
    return round((rounds - 0.5) * handle)


def announce_due(entry: QueueEntry, waited: int, every: int) -> bool:
    """Whether the caller should hear their place again (first time, then every ``every`` s)."""
    return entry.announced_wait is None or waited - entry.announced_wait >= every


def enqueue_caller(flow: Flow, node: Node, lang: str) -> None:
    """The queue node: put the caller in line if someone can answer, else offer a message."""
    session = db.session
    topic = str(node.settings["queue"])
    name = queue_name(topic, lang)
    agents = signed_in_agents(session, topic, lang)
    waiting = waiting_count(session, name)
    max_size = int(node.settings.get("max_size", 30))
    if not agents or waiting >= max_size:
        reason = "no_agent" if not agents else "queue_full"
        flow.log("queue_unavailable", node.id, queue=name, reason=reason, waiting=waiting)
        flow.say("agents_busy")
        assert node.fallback is not None
        flow.enter(node.fallback)
        return
    voice = flow.menu.languages[lang]
    for segment in node.prompt[lang]:
        if segment.kind == "say":
            speak(flow.response, segment.value, voice)
        else:
            flow.response.play(segment.value)
    if records(flow.menu, node.id):
        say_notice(flow.response, flow.menu, lang)  # heard once, before the wait
    query = {"n": node.id, "lang": lang}
    flow.response.enqueue(
        name,
        # The step names this stay in line: a waitUrl that comes after its action is a late one.
        wait_url=external_url("queue.wait", **query, s=flow.next_step()),
        wait_url_method="POST",
        action=external_url("queue.done", **query, s=flow.next_step()),
        method="POST",
    )
    flow.log("queue_entered", node.id, queue=name, waiting=waiting, agents=len(agents))


def wait_twiml(
    menu: Menu,
    lang: str,
    *,
    announce: tuple[int, int] | None,
    key_url: str,
) -> VoiceResponse:
    """What a waiting caller hears on one loop: maybe their place and wait, then music or quiet."""
    voice = menu.languages[lang]
    response = VoiceResponse()
    if announce is not None:
        position, seconds = announce
        minutes = str(max(1, math.ceil(seconds / 60)))
        speak(
            response,
            menu.phrase("queue_position", lang, position=str(position), minutes=minutes),
            voice,
        )
        speak(response, menu.phrase("queue_options", lang), voice)
    gather = response.gather(input="dtmf", num_digits=1, action=key_url, method="POST", timeout=1)
    if menu.hold_music:
        gather.play(menu.hold_music)
    else:
        gather.pause(length=min(menu.announce_every, 20))
    return response


def leave_twiml(menu: Menu, lang: str, phrase: str | None) -> VoiceResponse:
    """Take the caller out of the queue (the Enqueue action decides what comes next)."""
    response = VoiceResponse()
    if phrase:
        speak(response, menu.phrase(phrase, lang), menu.languages[lang])
    response.leave()
    return response
