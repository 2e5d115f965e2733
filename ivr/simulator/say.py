"""<Say>, <Play> and <Pause>: what the caller hears."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ivr.simulator.control import Document
from ivr.simulator.twiml import Verb
from ivr.simulator.voices import say_language

if TYPE_CHECKING:
    from ivr.simulator.call import CallRun

KEY_SECONDS = 0.4
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
WORD = re.compile(r"[^\W_]+", re.ASCII)


def speaking_seconds(text: str) -> float:
    """A rough text-to-speech duration: ~4.5 CJK characters or ~2.8 words a second."""
    return round(0.5 + 0.22 * len(CJK.findall(text)) + 0.35 * len(WORD.findall(text)), 1)


def say(run: CallRun, verb: Verb, document: Document) -> Document | None:
    """<Say>: speak text in a language and voice (a voice's own language by default)."""
    voice = verb.attr("voice") or None
    language, refusal = say_language(voice, verb.attrs.get("language") or None)
    if refusal:
        # Twilio fails the <Say> and goes on: the caller hears nothing of it.
        message = f"<Say> not spoken: {refusal}"
        run.result.errors.append(message)
        run.line("twilio", "error", message, language=language, voice=voice)
        return None
    loops = run.loops(verb)
    for _ in range(loops or 1):
        run.line("twilio", "say", verb.text, language=language, voice=voice)
        run.clock += speaking_seconds(verb.text)
    if loops == 0:
        run.hang_up(f'(tired of <{verb.name} loop="0">)')
    return None


def play(run: CallRun, verb: Verb, document: Document) -> Document | None:
    """<Play>: an audio URL (never fetched) or DTMF digits."""
    if verb.attr("digits"):
        run.line("twilio", "play", f"digits {verb.attr('digits')}")
        run.clock += KEY_SECONDS * len(verb.attr("digits"))
        return None
    url = run.sim.address.resolve(verb.text, document.url)
    loops = run.loops(verb)
    for _ in range(loops or 1):
        run.line("twilio", "play", url)
        run.clock += run.sim.play_seconds
    if loops == 0:
        run.hang_up(f'(tired of <{verb.name} loop="0">)')
    return None


def pause(run: CallRun, verb: Verb, document: Document) -> Document | None:
    """<Pause length=N>: silence, 1 s by default."""
    length = run.number(verb, "length", 1.0)
    run.line("twilio", "pause", f"{length:g}s")
    run.clock += length
    return None
