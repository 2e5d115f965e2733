"""Which conversations are recorded, and when: the queue decides (``record``, on by default),
the customer hears the menu's ``recording_notice`` first, and the ``Hotline.recorder`` (voicemail
fills it) keeps the recording.

A caller hears the notice as they enter a recorded queue, before they wait (the agent never
waits for it); a customer called back hears it as an announcement when they join the room, and
their recording starts when it ends. Recording stops when the agent leaves (the caller's rating
is not recorded) and when the caller is transferred away (the next agent's conversation gets
its own recording). A failure here never stops the call: it is logged, and the call goes on.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from ivr.callflow.menu import Menu
from ivr.hotline import hotline
from ivr.models import EntryState, QueueEntry
from ivr.twilio.rest import TwilioError, update_participant
from ivr.twilio.twiml import speak
from ivr.twilio.urls import external_url

log = logging.getLogger(__name__)
NOTICE = "recording_notice"
INBOUND, CALLBACK = "inbound", "callback"


def records(menu: Menu, node_id: str) -> bool:
    """Whether conversations of the queue node ``node_id`` are recorded."""
    node = menu.nodes.get(node_id)
    return node is not None and node.type == "queue" and node.settings.get("record", True) is True


def topic_recorded(menu: Menu, topic: str | None) -> bool:
    """Whether a call-back about ``topic`` is recorded: as its queue's conversations are (the
    first queue node that serves it), else as queues are by default."""
    for node_id, node in menu.nodes.items():
        if node.type == "queue" and node.settings.get("queue") == topic:
            return records(menu, node_id)
    return True


def say_notice(response: VoiceResponse, menu: Menu, lang: str) -> None:
    """The recording notice in ``lang``, added to ``response``."""
    speak(response, menu.phrase(NOTICE, lang), menu.languages[lang])


def notice_twiml(menu: Menu, lang: str) -> VoiceResponse:
    """The notice alone: what a called-back customer hears as they join the room."""
    response = VoiceResponse()
    say_notice(response, menu, lang)
    return response


def talking_entry(session: Session, caller_sid: str) -> QueueEntry | None:
    """The caller's stay whose conversation goes on in their room now (the latest bridged)."""
    return session.scalar(
        select(QueueEntry)
        .where(QueueEntry.call_sid == caller_sid, QueueEntry.state == EntryState.BRIDGED)
        .order_by(QueueEntry.bridged_at.desc(), QueueEntry.id.desc())
        .limit(1)
    )


def callback_entry(session: Session, caller_sid: str, leg: str) -> QueueEntry | None:
    """The call-back whose customer's leg is ``leg``, in the room of ``caller_sid``."""
    if not leg:
        return None
    return session.scalar(
        select(QueueEntry)
        .where(
            QueueEntry.call_sid == caller_sid,
            QueueEntry.state == EntryState.DIALING,
            QueueEntry.caller_leg == leg,
        )
        .limit(1)
    )


def start(session: Session, entry: QueueEntry | None, *, direction: str) -> None:
    """Record ``entry``'s conversation if its queue says so (the recorder makes it once)."""
    if entry is None or not records(hotline().menu, entry.node):
        return
    try:
        hotline().recorder.start(session, entry, direction=direction)
    except Exception:
        log.exception("could not record the conversation of entry %s", entry.id)
        session.rollback()


def stop(session: Session, entry: QueueEntry | None) -> None:
    """Stop ``entry``'s recording, if one goes on (best effort)."""
    if entry is None:
        return
    try:
        hotline().recorder.stop(session, entry)
    except Exception:
        log.exception("could not stop the recording of entry %s", entry.id)
        session.rollback()


def announce_to_customer(config: object, entry: QueueEntry, conference: str) -> bool:
    """Play the notice to a called-back customer who just joined; False if none is due or
    Twilio refused it (then nothing is recorded)."""
    if not records(hotline().menu, entry.node) or not entry.caller_leg or not conference:
        return False
    url = external_url("queue.notice", lang=entry.language)
    try:
        update_participant(config, conference, entry.caller_leg, AnnounceUrl=url,
                           AnnounceMethod="POST")  # fmt: skip
    except TwilioError as exc:
        log.warning("no recording notice for call-back %s, so no recording: %s", entry.id, exc)
        return False
    return True
