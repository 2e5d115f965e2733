"""<Redirect>, <Hangup> and <Reject>: verbs that move or end the call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ivr.simulator.control import CallEnded, Document
from ivr.simulator.twiml import Verb

if TYPE_CHECKING:
    from ivr.simulator.call import CallRun


def redirect(run: CallRun, verb: Verb, document: Document) -> Document | None:
    """<Redirect>: continue with the TwiML at another URL."""
    if verb.attr("method", "POST").upper() != "POST":
        run.unsupported(verb, f' with method="{verb.attr("method")}"')
    url = run.sim.address.resolve(verb.text, document.url)
    run.line("twilio", "redirect", url)
    return run.fetch(url, {})


def hangup(run: CallRun, verb: Verb, document: Document) -> Document | None:
    """<Hangup>: end the call."""
    run.line("twilio", "hangup", "<Hangup>")
    raise CallEnded


def reject(run: CallRun, verb: Verb, document: Document) -> Document | None:
    """<Reject>: refuse the call; unanswered, it ends busy or no-answer."""
    reason = verb.attr("reason", "rejected")
    if not run.answered:
        run.final_status = "busy" if reason == "busy" else "no-answer"
    run.line("twilio", "hangup", f"<Reject reason={reason}>")
    raise CallEnded
