"""How a call's flow is steered: documents, endings, and interruptions from other calls."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ivr.simulator.twiml import Verb

if TYPE_CHECKING:
    from ivr.simulator.call import CallRun
    from ivr.simulator.queues import Queue


APPLICATION_ERROR = "An application error has occurred."


@dataclass(frozen=True)
class Document:
    """A fetched TwiML document and the public URL it came from."""

    url: str
    verbs: list[Verb]


class CallEnded(Exception):
    """Internal: the call is over."""


class Failure(Exception):
    """Internal: a document could not be fetched or parsed."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{detail} (error {code})")
        self.code = code


@dataclass(frozen=True)
class Redirect:
    """Leave whatever the call does and run new TwiML (REST Calls or Members update)."""

    url: str | None = None
    twiml: str | None = None
    # A Members update dequeues: Twilio then tells the Enqueue action "redirected".
    dequeued: bool = False


@dataclass(frozen=True)
class Complete:
    """Hang the call up (REST ``Status=completed``, or the simulator closing)."""

    why: str = "completed through the REST API"
    # Set when the simulator, not the caller, ends the call (a safety limit).
    error: str | None = None


@dataclass(frozen=True)
class PartyLeft:
    """The other side of a bridge hung up or was taken elsewhere."""


@dataclass
class Bridge:
    """An agent leg taking a queue member: the two sides meet here."""

    agent: CallRun
    queue: Queue
    url: str | None
    connected: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    member: CallRun | None = None
    queue_time: int = 0
    duration: int = 0
    caller_gone: bool = False


@dataclass(frozen=True)
class ConferenceNews:
    """A conference this leg is in changed (it started, or this leg was put on hold or back)."""


@dataclass(frozen=True)
class Removed:
    """The leg is out of its conference (kicked, or the conference ended); the Dial goes on."""

    why: str


Reason = Redirect | Complete | PartyLeft | Bridge | ConferenceNews | Removed


class Interrupted(Exception):
    """Internal: another thread (an agent, the REST API) took over this call."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(type(reason).__name__)
        self.reason = reason
