"""A caller's conversation with agents is a Twilio conference named for the caller's call.

An agent who answers an offer joins it; the caller is moved into it out of the queue by a call
update. In a conference the hotline can hold, transfer, and let supervisors listen, whisper or
barge: a direct bridge allows none of these. These builders are pure TwiML.
"""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from ivr.callflow.menu import Menu
from ivr.twilio.twiml import speak

PREFIX = "hotline-"
# What the conference reports to us (TWILIO.md): the timeline's holds and who came and went.
EVENTS = "start end join leave hold announcement"


def conference_name(call_sid: str) -> str:
    """The conference of the caller whose call is ``call_sid``."""
    return PREFIX + call_sid


def caller_of(conference: str) -> str | None:
    """The caller's CallSid a conference is named for, or None for a name we did not give."""
    return conference[len(PREFIX) :] if conference.startswith(PREFIX) else None


def caller_joins(
    menu: Menu, lang: str, call_sid: str, *, action: str, music: str, events: str
) -> VoiceResponse:
    """The caller, moved out of the queue: told they are connected, then in the room.

    They hear ``music`` until an agent is there (the conference starts with the agent), and the
    conference ends when they hang up; when it ends otherwise, ``action`` asks for a rating.
    """
    response = VoiceResponse()
    speak(response, menu.phrase("queue_connecting", lang), menu.languages[lang])
    dial = response.dial(action=action, method="POST")
    dial.conference(
        conference_name(call_sid),
        start_conference_on_enter=False,
        end_conference_on_exit=True,
        beep=False,
        wait_url=music,
        wait_method="POST",
        status_callback=events,
        status_callback_method="POST",
        status_callback_event=EVENTS,
        participant_label="caller",
    )
    return response


def agent_joins(
    menu: Menu, lang: str, whisper: str, call_sid: str, *, action: str, label: str, events: str
) -> VoiceResponse:
    """The agent who answered: the whisper, then the caller's room (it starts with them).

    The agent leaving ends the conversation (the caller goes on to rate it); a transfer first
    lets the leaving agent go without ending it. The room reports to ``events`` whoever opens
    it (the agent may be there before the caller: they wait in silence, not Twilio's music).
    """
    response = VoiceResponse()
    speak(response, whisper, menu.languages[lang])
    dial = response.dial(action=action, method="POST")
    dial.conference(
        conference_name(call_sid),
        start_conference_on_enter=True,
        end_conference_on_exit=True,
        beep=False,
        wait_url="",
        participant_label=label,
        status_callback=events,
        status_callback_method="POST",
        status_callback_event=EVENTS,
    )
    return response


def hold_music(menu: Menu) -> VoiceResponse:
    """What a caller hears waiting in the room or on hold: the queue's music, else quiet."""
    response = VoiceResponse()
    if menu.hold_music:
        response.play(menu.hold_music)
    else:
        response.pause(length=10)
    return response


def caller_gone(menu: Menu, lang: str) -> VoiceResponse:
    """Said to an agent who answers for a caller no longer there."""
    response = VoiceResponse()
    speak(response, menu.phrase("caller_gone", lang), menu.languages[lang])
    response.hangup()
    return response
