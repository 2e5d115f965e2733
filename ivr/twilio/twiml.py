"""Pure TwiML builders: each takes plain values and returns or extends a ``VoiceResponse``."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Response
from twilio.twiml.voice_response import Gather, VoiceResponse

from ivr.callflow.menu import Segment, Voice

# Used only when even the menu cannot be read: both languages, so no caller hears a stranger's.
LAST_RESORT = (
    ("cmn-CN", "Polly.Zhiyu-Neural", "抱歉，系统暂时出现问题，请稍后再拨。"),
    ("en-US", "Polly.Joanna", "Sorry, something went wrong. Please call again later."),
)


def speak(target: VoiceResponse | Gather, text: str, voice: Voice) -> None:
    """Add one spoken sentence in a language with its matching voice."""
    target.say(text, language=voice.say_language, voice=voice.voice)


def add_prompt(target: VoiceResponse | Gather, segments: Iterable[Segment], voice: Voice) -> None:
    """Add a prompt's spoken and recorded parts in order."""
    for segment in segments:
        if segment.kind == "play":
            target.play(segment.value)
        else:
            speak(target, segment.value, voice)


def gather_keys(
    response: VoiceResponse,
    prompts: Iterable[tuple[Iterable[Segment], Voice]],
    *,
    action: str,
    timeout: int,
    num_digits: int | None = 1,
) -> None:
    """Ask for keys while the prompts play; without input, Twilio falls through to a Redirect.

    The Redirect to the same action (without ``Digits``) makes "no input" arrive like any other
    answer, so one handler decides what silence means.
    """
    options: dict[str, object] = {"action": action, "method": "POST", "timeout": timeout}
    if num_digits is None:
        options["finish_on_key"] = "#"
    else:
        options["num_digits"] = num_digits
    gather = response.gather(input="dtmf", **options)
    for segments, voice in prompts:
        add_prompt(gather, segments, voice)
    response.redirect(action, method="POST")


def spell_digits(number: str) -> str:
    """Write a number so text-to-speech reads it digit by digit."""
    return " ".join(number)


def last_resort() -> VoiceResponse:
    """An apology in both languages that needs nothing but this module."""
    response = VoiceResponse()
    for language, voice, text in LAST_RESORT:
        response.say(text, language=language, voice=voice)
    response.hangup()
    return response


def twiml(response: VoiceResponse) -> Response:
    """A TwiML document as an HTTP response."""
    return Response(str(response), mimetype="text/xml")
