"""The interpreter: plays Twilio's side of one call leg against the app.

Each TwiML verb has its own module (say, gather, record, flow, dial, enqueue); verbs.py maps
tag -> handler."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import parse_qsl, urldefrag

from ivr.simulator.caller import Action, Caller, Hold, Silence, Wait
from ivr.simulator.control import (
    APPLICATION_ERROR,
    CallEnded,
    Complete,
    Document,
    Failure,
    Interrupted,
    PartyLeft,
    Reason,
    Redirect,
)
from ivr.simulator.errors import SimulatorError, TransportError, TwimlError
from ivr.simulator.result import CallResult, Line, Request, Who
from ivr.simulator.timing import rfc2822
from ivr.simulator.transport import Reply
from ivr.simulator.twiml import Verb, parse_twiml
from ivr.simulator.verbs import VERB_HANDLERS

if TYPE_CHECKING:
    from ivr.simulator.queues import Member
    from ivr.simulator.simulator import Simulator

ERROR_HTTP = 11200  # HTTP retrieval failure
ERROR_DOCUMENT = 12100  # document parse failure
ERROR_MESSAGE_SECONDS = 3.0

# Longest prefix wins; enough for FromCountry/ToCountry on the numbers tests use.
COUNTRY_CODES = {
    "1": "US",
    "7": "RU",
    "33": "FR",
    "34": "ES",
    "39": "IT",
    "44": "GB",
    "49": "DE",
    "61": "AU",
    "65": "SG",
    "81": "JP",
    "82": "KR",
    "86": "CN",
    "91": "IN",
    "852": "HK",
    "853": "MO",
    "886": "TW",
}


def country_of(number: str) -> str | None:
    """ISO country of an E.164 number, if its calling code is known."""
    if not number.startswith("+"):
        return None
    digits = number[1:]
    for length in (3, 2, 1):
        if digits[:length] in COUNTRY_CODES:
            return COUNTRY_CODES[digits[:length]]
    return None


# Internal names kept for code written against earlier versions.
_CallEnded = CallEnded
_Failure = Failure

# How long (real seconds) a leg waits for the other side of a bridge before giving up.
BRIDGE_PATIENCE = 120.0


class CallRun:
    """One call leg in progress: its clock, script position, result and interruptions."""

    def __init__(
        self,
        simulator: Simulator,
        caller: Caller,
        *,
        direction: str = "inbound",
        parent_sid: str | None = None,
    ) -> None:
        self.sim = simulator
        self.caller = caller
        self.direction = direction
        self.parent_sid = parent_sid
        self.script: list[Action] = list(caller.script)
        self.result = CallResult(sid="CA" + uuid.uuid4().hex, direction=direction, to=caller.to)
        self.started = datetime.now(UTC)
        self.origin = simulator.shared_clock.now() if simulator.shared_clock else 0.0
        self._clock = 0.0
        self.call_status = "ringing"
        self.final_status = "completed"
        self.answered = False
        self.answered_at = 0.0
        self.fetches = 0
        self.talk_seconds = 30.0
        self.finished = False
        self.member: Member | None = None
        self.deadline: float | None = None
        self.deadline_reason: Complete | None = None
        self.interrupts: list[Reason] = []
        self.wakeup = threading.Condition(simulator.lock)
        with simulator.lock:
            simulator.runs[self.result.sid] = self

    @property
    def party(self) -> str:
        """The number of whoever is on this leg (the caller inbound, the callee outbound)."""
        return self.caller.number if self.direction == "inbound" else self.caller.to

    # -- the clock ----------------------------------------------------------------------------

    @property
    def clock(self) -> float:
        """Simulated seconds since the call started (shared time in real-time mode)."""
        shared = self.sim.shared_clock
        return self._clock if shared is None else shared.now() - self.origin

    @clock.setter
    def clock(self, value: float) -> None:
        self.advance_to(value)

    def advance_to(self, target: float, *, interruptible: bool = True) -> None:
        """Let time pass until ``target``; another thread may interrupt, a deadline may fire."""
        deadline = self.deadline if interruptible else None
        stop = target if deadline is None else min(target, deadline)
        shared = self.sim.shared_clock
        if shared is None:
            if interruptible:
                self.raise_interrupt()
            self._clock = max(self._clock, stop)
        else:
            with self.wakeup:
                while not (interruptible and self.interrupts):
                    remaining = stop - self.clock
                    if remaining <= 0:
                        break
                    self.wakeup.wait(shared.real(remaining))
            if interruptible:
                self.raise_interrupt()
        if deadline is not None and stop >= deadline and self.deadline_reason is not None:
            reason, self.deadline, self.deadline_reason = self.deadline_reason, None, None
            raise Interrupted(reason)

    def catch_up(self, seconds: float) -> None:
        """Instant mode only: add time another leg spent for this one (shared time needs none)."""
        if self.sim.shared_clock is None:
            self._clock += seconds

    def interrupt(self, reason: Reason) -> bool:
        """From another thread: stop what the call does at its next moment of waiting."""
        with self.wakeup:
            if self.finished:
                return False
            self.interrupts.append(reason)
            self.wakeup.notify_all()
            return True

    def pending(self) -> Reason | None:
        """Take the oldest pending interruption, if any."""
        with self.wakeup:
            return self.interrupts.pop(0) if self.interrupts else None

    def raise_interrupt(self) -> None:
        """Raise Interrupted for a pending interruption."""
        reason = self.pending()
        if reason is not None:
            raise Interrupted(reason)

    def wake(self) -> None:
        """Wake the call if it waits for another leg."""
        with self.wakeup:
            self.wakeup.notify_all()

    def wait_for(self, done: Callable[[], bool], what: str) -> None:
        """Block (interruptibly) until another leg makes ``done()`` true."""
        give_up = time.monotonic() + BRIDGE_PATIENCE
        with self.wakeup:
            while not done() and not self.interrupts and time.monotonic() < give_up:
                # Short waits: the other leg may set an Event without notifying this condition.
                self.wakeup.wait(0.05)
        self.raise_interrupt()
        if not done():
            self.fail(f"gave up waiting for {what} after {BRIDGE_PATIENCE:g} real seconds", "")

    def set_deadline(self, seconds: float, reason: Complete) -> None:
        """End the wait ``seconds`` from now with ``reason`` (a Wait, or the safety limit)."""
        at = self.clock + seconds
        if self.deadline is None or at < self.deadline:
            self.deadline, self.deadline_reason = at, reason

    # -- the call ---------------------------------------------------------------------------

    def run(self) -> CallResult:
        """Execute documents from the first one until the call ends, then report its status."""
        try:
            try:
                self.play(self.begin())
            except CallEnded:
                pass
            except Interrupted as stop:
                self.stopped(stop.reason)
            self.finish()
        except SimulatorError as exc:
            exc.result = self.result
            raise
        finally:
            self.close()
        return self.result

    def begin(self) -> Document | None:
        """The first document: the incoming call webhook."""
        return self.fetch(self.sim.address.url(self.sim.incoming_path), {})

    def play(self, document: Document | None) -> None:
        """Run documents one after another; another thread may redirect or end the call."""
        while document is not None:
            try:
                document = self.execute(document)
            except Interrupted as stop:
                document = self.take_over(stop.reason)

    def take_over(self, reason: Reason) -> Document | None:
        """Obey an interruption outside a queue: run new TwiML or hang up."""
        if isinstance(reason, Redirect):
            return self.redirected(reason)
        self.stopped(reason)
        raise CallEnded

    def stopped(self, reason: Reason) -> None:
        """Note in the transcript why the call stopped."""
        if isinstance(reason, Complete):
            self.line("twilio", "hangup", reason.why)
        elif isinstance(reason, PartyLeft):
            self.line("twilio", "hangup", "the other party left")
        else:
            self.line("twilio", "hangup", f"interrupted by {type(reason).__name__}")

    def redirected(self, reason: Redirect) -> Document:
        """The document a REST update points the call at."""
        if reason.twiml is not None:
            self.line("twilio", "redirect", "inline TwiML (REST API)")
            return self.inline(reason.twiml)
        url = reason.url or ""
        self.line("twilio", "redirect", f"{url} (REST API)")
        return self.fetch(url, {})

    def inline(self, twiml: str) -> Document:
        """A document given as TwiML text (REST ``Twiml``); URLs in it resolve on the public base."""
        try:
            return Document(self.sim.address.url("/"), self.load(Reply(200, {}, twiml)))
        except Failure as failure:
            self.fail(f"inline TwiML: {failure}", APPLICATION_ERROR)

    def close(self) -> None:
        """End the leg's recordings; mark the leg over so nobody interrupts it any more."""
        self.sim.call_recordings.call_ended(self)
        with self.wakeup:
            self.finished = True
            self.interrupts.clear()
            self.wakeup.notify_all()

    def perform(self, verb: Verb, document: Document) -> Document | None:
        """Run one verb through the handler table."""
        handler = VERB_HANDLERS.get(verb.name)
        if handler is None:
            self.unsupported(verb)
        return handler(self, verb, document)

    def execute(self, document: Document) -> Document | None:
        """Run a document's verbs; return the next document, or None when the call ends."""
        for verb in document.verbs:
            if verb.name != "Reject":
                self.answered = True
            following = self.perform(verb, document)
            if following is not None:
                return following
        # Twilio hangs up when a document runs out of verbs.
        self.line("twilio", "hangup", "end of document")
        return None

    def finish(self) -> None:
        """Close the call and send the call status callback."""
        self.result.status = self.final_status
        self.result.duration = self.duration()
        if self.sim.status_callback_path is None:
            return
        form = self.params(self.final_status) | {
            "CallDuration": str(self.result.duration),
            "Timestamp": rfc2822(self.now()),
            "SequenceNumber": "0",
            "CallbackSource": "call-progress-events",
        }
        self.notify(self.sim.address.url(self.sim.status_callback_path), form)

    def duration(self) -> int:
        """Whole seconds since the call was answered (0 if it never was)."""
        return math.ceil(self.clock - self.answered_at - 1e-9) if self.answered else 0

    def spawn_leg(self, callee: Caller, direction: str) -> CallRun:
        """A child leg of this call (a <Dial>ed party), run in this call's thread."""
        return CallRun(self.sim, callee, direction=direction, parent_sid=self.result.sid)

    # -- requests ---------------------------------------------------------------------------

    def params(self, status: str | None = None) -> dict[str, str]:
        """The fields Twilio puts on every call webhook."""
        caller = self.caller
        form = {
            "CallSid": self.result.sid,
            "AccountSid": self.sim.account_sid,
            "From": caller.number,
            "To": caller.to,
            "Caller": caller.number,
            "Called": caller.to,
            "CallStatus": status or self.call_status,
            "Direction": self.direction,
            "ApiVersion": "2010-04-01",
        }
        if self.parent_sid:
            form["ParentCallSid"] = self.parent_sid
        for fields, number in (("From", "Caller"), caller.number), (("To", "Called"), caller.to):
            country = country_of(number)
            if country:
                for name in fields:
                    form[f"{name}Country"] = country
        form.update(caller.extra or {})
        return form

    def send(self, url: str, form: dict[str, str]) -> Reply:
        """Sign and POST ``form`` to public ``url`` (twice when replaying); the last reply."""
        url = urldefrag(url).url  # connection overrides are Twilio's to read, not the app's
        path = self.sim.address.app_path(url)
        headers = {
            **self.sim.address.signed(url, form),
            "User-Agent": "TwilioProxy/1.1",
            # Retries of one request carry the same token: apps may dedupe on it.
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        }
        reply = Reply(0, {}, "")
        for _ in range(2 if self.sim.replay else 1):
            began = time.perf_counter()
            reply = self.deliver(url, path, form, headers)
            seconds = time.perf_counter() - began
            self.result.requests.append(Request(path, dict(form), reply.status, url, seconds))
        return reply

    def deliver(self, url: str, path: str, form: dict[str, str], headers: dict[str, str]) -> Reply:
        """POST once, and again if the connection failed (Twilio's ``rc``); status 0: no answer."""
        retries = self.sim.connection_retries
        while True:
            try:
                return self.sim.transport.post(path, dict(form), dict(headers))
            except TransportError as exc:
                if not exc.connection_failed or retries <= 0:
                    return Reply(0, {}, str(exc))
                retries -= 1
                self.result.warnings.append(f"POST {url}: connection failed, retried: {exc}")

    def notify(self, url: str, form: dict[str, str]) -> None:
        """A callback whose answer Twilio ignores; non-2xx is only a warning, as in Twilio.

        A failed callback is sent again ``callback_retry_delay`` real seconds apart, as often as
        the URL's connection overrides ask (``#rc=3&rp=all``: three times, whatever failed;
        ``rp`` lists ``4xx``, ``5xx``, ``ct``, ``rt`` or ``all``), else ``callback_retries`` times.
        """
        overrides = dict(parse_qsl(urldefrag(url).fragment))
        retries = self.sim.callback_retries
        policy = {"all"}
        if overrides.get("rc", "").isdigit():
            retries = min(int(overrides["rc"]), 5)
            policy = set(overrides.get("rp", "ct,rt").split(","))
        reply = self.send(url, form)
        for _ in range(retries):
            if 200 <= reply.status < 300:
                break
            if not policy & {"all", f"{reply.status // 100}xx" if reply.status else "ct"}:
                break
            self.result.warnings.append(f"POST {url} answered HTTP {reply.status}; retrying")
            time.sleep(self.sim.callback_retry_delay)
            reply = self.send(url, form)
        if not 200 <= reply.status < 300:
            self.result.warnings.append(f"POST {url} answered HTTP {reply.status}")

    def fetch(self, url: str, extra: dict[str, str]) -> Document:
        """Request a TwiML document (with the fallback URL on failure); errors end the call."""
        self.fetches += 1
        if self.fetches > self.sim.max_requests:
            self.fail(
                f"request limit of {self.sim.max_requests} TwiML requests reached "
                f"(last: {url}); the app may be looping",
                APPLICATION_ERROR,
            )
        form = self.params() | extra
        try:
            document = Document(url, self.load(self.send(url, form)))
        except Failure as failure:
            detail = f"POST {url}: {failure}"
            if not self.sim.fallback_path:
                self.fail(detail, APPLICATION_ERROR)
            fallback = self.sim.address.url(self.sim.fallback_path)
            form |= {"ErrorCode": str(failure.code), "ErrorUrl": url}
            try:
                document = Document(fallback, self.load(self.send(fallback, form)))
            except Failure as second:
                self.fail(f"{detail}; fallback POST {fallback}: {second}", APPLICATION_ERROR)
            self.result.errors.append(f"{detail}; Twilio used the fallback URL")
        self.call_status = "in-progress"
        return document

    @staticmethod
    def load(reply: Reply) -> list[Verb]:
        """The verbs of a reply, or Failure with Twilio's error code."""
        if reply.status == 0:
            raise Failure(ERROR_HTTP, f"app unreachable: {reply.body}")
        if not 200 <= reply.status < 300:
            raise Failure(ERROR_HTTP, f"HTTP {reply.status}")
        try:
            return parse_twiml(reply.body)
        except TwimlError as exc:
            raise Failure(ERROR_DOCUMENT, f"invalid TwiML: {exc}") from None

    def target(self, verb: Verb, attribute: str, document: Document) -> str:
        """The URL a verb's attribute points at (default: the current document), POST only."""
        method = verb.attr(f"{attribute}Method" if attribute != "action" else "method", "POST")
        if method.upper() != "POST":
            self.unsupported(verb, f' with method="{method}"')
        return self.sim.address.resolve(verb.attr(attribute) or document.url, document.url)

    # -- transcript and ending --------------------------------------------------------------

    def now(self) -> datetime:
        """Wall-clock time of the simulated clock."""
        return self.started + timedelta(seconds=self.clock)

    def line(self, who: Who, kind: str, text: str = "", **extra: str | None) -> None:
        """Add a transcript line at the current simulated time."""
        self.result.transcript.append(Line(round(self.clock, 1), who, kind, text, **extra))

    def fail(self, detail: str, heard: str) -> NoReturn:
        """Record an error the caller hears as ``heard`` and end the call."""
        self.result.errors.append(detail)
        self.line("twilio", "error", heard or detail)
        self.advance_to(self.clock + ERROR_MESSAGE_SECONDS, interruptible=False)
        raise CallEnded

    def unsupported(self, verb: Verb, detail: str = "") -> NoReturn:
        """End the call: the simulator cannot play this verb yet."""
        message = f"<{verb.name}>{detail} is not supported by the simulator yet"
        self.result.errors.append(message)
        self.line("twilio", "error", message)
        raise CallEnded

    def next_action(self, where: str) -> Action:
        """The caller's next scripted action; an exhausted script hangs up (but not in a queue)."""
        if self.member is not None:
            while self.script and isinstance(self.script[0], Wait):
                self.wait_at_most(self.script.pop(0))
            if not self.script or isinstance(self.script[0], Hold):
                # A caller in a queue with nothing left to do (or told to) keeps holding.
                return Silence()
        if self.script and isinstance(self.script[0], Hold):
            self.script.pop(0)  # out of the queue: what follows is for after it
        if not self.script:
            self.line("caller", "hangup", f"(script ended at <{where}>)")
            raise CallEnded
        action = self.script.pop(0)
        if isinstance(action, Wait):
            self.result.errors.append(f"caller script: Wait at a <{where}> outside a queue")
            self.line("caller", "error", f"Wait at a <{where}>")
            raise CallEnded
        return action

    def wait_at_most(self, wait: Wait) -> None:
        """The caller gives up waiting ``wait.seconds`` from now."""
        self.line("caller", "wait", f"at most {wait.seconds:g}s more")
        self.set_deadline(wait.seconds, Complete(f"(gave up after waiting {wait.seconds:g}s)"))

    def hang_up(self, why: str) -> NoReturn:
        """The caller hangs up."""
        self.line("caller", "hangup", why)
        raise CallEnded

    def loops(self, verb: Verb) -> int:
        """How many times to play a Say/Play; 0 (forever) ends the call after one."""
        return int(self.number(verb, "loop", 1, low=0))

    def number(self, verb: Verb, name: str, default: float, *, low: float = 0) -> float:
        """A numeric attribute; an invalid value is a warning and Twilio's default is used."""
        raw = verb.attr(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < low:
            self.result.warnings.append(
                f'<{verb.name} {name}="{raw}">: invalid value, Twilio uses {default:g}'
            )
            return default
        return value
