"""<Gather>: play nested prompts and collect the caller's keys."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ivr.simulator.caller import Hangup, Press, Speak
from ivr.simulator.control import CallEnded, Document
from ivr.simulator.say import KEY_SECONDS
from ivr.simulator.twiml import Verb

if TYPE_CHECKING:
    from ivr.simulator.call import CallRun


def collect(keys: str, finish_on_key: str, num_digits: int | None) -> tuple[str, str, bool]:
    """Digits Twilio keeps from ``keys``, the finish key pressed, and whether input ended."""
    digits = ""
    for key in keys:
        if finish_on_key and key == finish_on_key:
            return digits, key, True
        digits += key
        if num_digits is not None and len(digits) >= num_digits:
            return digits, "", True
    return digits, "", False


def gather(run: CallRun, verb: Verb, document: Document) -> Document | None:
    """<Gather input="dtmf">: play nested prompts, collect keys, request the action."""
    if "dtmf" not in verb.attr("input", "dtmf").split():
        run.unsupported(verb, f' input="{verb.attr("input")}"')
    for child in verb.children:
        # Nested prompts loop only until the caller answers, so loop="0" plays once here.
        if child.attr("loop") == "0":
            child = replace(child, attrs=child.attrs | {"loop": "1"})
        run.perform(child, document)
    timeout = run.number(verb, "timeout", 5.0)
    num_digits = int(run.number(verb, "numDigits", 0, low=1)) or None
    action = run.next_action("Gather")
    if isinstance(action, Hangup):
        run.hang_up("at the prompt")
    digits, finished_on, ended = "", "", False
    if isinstance(action, Press):
        run.line("caller", "press", action.digits)
        run.clock += KEY_SECONDS * len(action.digits)
        digits, finished_on, ended = collect(
            action.digits, verb.attr("finishOnKey", "#"), num_digits
        )
    elif isinstance(action, Speak):
        if "speech" in verb.attr("input", "dtmf").split():
            run.result.errors.append("caller script: speech recognition is not simulated")
            raise CallEnded
        # A keys-only Gather does not hear speech: to Twilio, the caller gave no input.
        run.line("caller", "speak", "(not heard: the prompt takes keys only)")
    else:
        run.line("caller", "silence", f"{timeout:g}s")
    if not ended:
        run.clock += timeout
    if not digits and verb.attr("actionOnEmptyResult", "false").lower() != "true":
        return None
    url = run.target(verb, "action", document)
    return run.fetch(url, {"Digits": digits, "FinishedOnKey": finished_on})
