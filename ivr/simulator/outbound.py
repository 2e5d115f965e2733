"""Outbound-api calls placed through the REST API: ring the callee, then run the call's TwiML."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ivr.simulator.agents import ring_outcome
from ivr.simulator.call import CallRun, rfc2822
from ivr.simulator.caller import Caller
from ivr.simulator.control import CallEnded, Document

if TYPE_CHECKING:
    from ivr.simulator.simulator import Simulator

STATUS_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})


@dataclass(frozen=True)
class OutboundCall:
    """What ``POST …/Calls.json`` asked for."""

    to: str
    from_: str
    url: str | None = None
    twiml: str | None = None
    status_callback: str | None = None
    status_events: frozenset[str] = field(default_factory=lambda: frozenset({"completed"}))
    timeout: float = 30.0


class OutboundRun(CallRun):
    """An outbound-api leg: rings the callee (an Agent, or the default callee) first."""

    def __init__(self, simulator: Simulator, request: OutboundCall) -> None:
        callee = simulator.callee(request.to)
        script = list(callee.script) if callee else []
        super().__init__(
            simulator,
            Caller(
                number=request.from_,
                to=request.to,
                script=script,
                says=list(callee.says) if callee else [],
            ),
            direction="outbound-api",
        )
        self.request = request
        self.callee = callee
        self.talk_seconds = callee.talk_seconds if callee else 30.0
        self.call_status = "queued"
        self.sequence = 0

    def begin(self) -> Document | None:
        """Ring the callee; once answered, the call's Url or Twiml."""
        self.status_event("initiated", "queued")
        outcome, rang = ring_outcome(self.callee, self.request.timeout)
        if outcome in ("failed", "busy"):
            self.line("twilio", "dial", f"{self.request.to}: {outcome}")
            self.final_status = outcome
            raise CallEnded
        self.call_status = "ringing"
        self.status_event("ringing", "ringing")
        self.line("twilio", "ringing", self.request.to)
        self.clock += rang
        if outcome == "no-answer":
            self.line("twilio", "dial", f"{self.request.to}: no answer after {rang:g}s")
            self.final_status = "no-answer"
            raise CallEnded
        if outcome == "declined":
            # A callee who rejects the call is reported busy (no "declined" call status exists).
            self.line("twilio", "dial", f"{self.request.to}: declined after {rang:g}s")
            self.final_status = "busy"
            raise CallEnded
        self.answered = True
        self.answered_at = self.clock
        self.call_status = "in-progress"
        self.line("caller", "answer", f"call from {self.request.from_}")
        self.status_event("answered", "in-progress")
        if self.request.twiml is not None:
            return self.inline(self.request.twiml)
        return self.fetch(self.request.url or "", {})

    def finish(self) -> None:
        """Close the call; its StatusCallback gets ``completed`` if it asked for it."""
        self.result.status = self.final_status
        self.result.duration = self.duration()
        self.status_event(
            "completed", self.final_status, {"CallDuration": str(self.result.duration)}
        )

    def status_event(self, event: str, status: str, extra: dict[str, str] | None = None) -> None:
        """Post a call progress event to the StatusCallback, if it asked for this one."""
        url = self.request.status_callback
        if url is None or event not in self.request.status_events:
            return
        form = self.params(status) | {
            "Timestamp": rfc2822(self.now()),
            "SequenceNumber": str(self.sequence),
            "CallbackSource": "call-progress-events",
        }
        self.sequence += 1
        self.notify(url, form | (extra or {}))


def describe_call(run: CallRun) -> dict[str, object]:
    """Any call leg as Twilio's REST API shows it."""
    account = run.sim.account_sid
    status = run.result.status if run.finished else run.call_status
    return {
        "sid": run.result.sid,
        "account_sid": account,
        "parent_call_sid": run.parent_sid,
        "to": run.caller.to,
        "to_formatted": run.caller.to,
        "from": run.caller.number,
        "from_formatted": run.caller.number,
        "status": status,
        "direction": run.direction,
        "duration": str(run.result.duration) if run.finished else None,
        "date_created": rfc2822(run.started),
        "start_time": rfc2822(run.started),
        "end_time": rfc2822(run.now()) if run.finished else None,
        "api_version": "2010-04-01",
        "answered_by": None,
        "caller_name": None,
        "forwarded_from": None,
        "group_sid": None,
        "phone_number_sid": None,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "trunk_sid": None,
        "annotation": None,
        "uri": f"/2010-04-01/Accounts/{account}/Calls/{run.result.sid}.json",
        "subresource_uris": {},
    }
