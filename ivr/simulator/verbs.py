"""The verb table: TwiML tag -> handler. A handler returns the next document, None to go
on, or raises CallEnded."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ivr.simulator.control import Document
from ivr.simulator.dial import dial
from ivr.simulator.enqueue import enqueue, leave
from ivr.simulator.flow import hangup, redirect, reject
from ivr.simulator.gather import gather
from ivr.simulator.record import record
from ivr.simulator.say import pause, play, say
from ivr.simulator.twiml import Verb

if TYPE_CHECKING:
    from ivr.simulator.call import CallRun

Handler = Callable[["CallRun", Verb, Document], "Document | None"]

VERB_HANDLERS: dict[str, Handler] = {
    "Say": say,
    "Play": play,
    "Pause": pause,
    "Gather": gather,
    "Record": record,
    "Redirect": redirect,
    "Hangup": hangup,
    "Reject": reject,
    "Enqueue": enqueue,
    "Leave": leave,
    "Dial": dial,
}
