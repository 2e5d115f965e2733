"""Scripted parties the simulator can call: agents and the default callee."""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.simulator.caller import Action, Utterance


@dataclass(frozen=True)
class Agent:
    """Someone reachable by outbound calls and <Dial>: answers (or not), talks, hangs up."""

    number: str
    answer_after: float = 2.0
    answers: bool = True
    busy: bool = False
    # Rings for answer_after seconds, then the person rejects the call: Twilio reports "busy".
    declines: bool = False
    talk_seconds: float = 30.0
    script: list[Action] = field(default_factory=list)
    # What the agent says once in a conference, from joining it (see Caller.says).
    says: list[Utterance] = field(default_factory=list)


# Whoever answers a number no agent was registered for (a customer called back).
DEFAULT_CALLEE = Agent(number="*", answer_after=1.0, talk_seconds=10.0)


def ring_outcome(callee: Agent | None, timeout: float) -> tuple[str, float]:
    """How ringing ``callee`` ends within ``timeout`` s: (status, seconds it rang)."""
    if callee is None:
        return "failed", 0.0
    if callee.busy:
        return "busy", 0.0
    if callee.declines and callee.answer_after < timeout:
        return "declined", callee.answer_after
    if not callee.answers or callee.answer_after >= timeout:
        return "no-answer", timeout
    return "answered", callee.answer_after
