"""The interpreter: plays Twilio's side of an inbound call against the app."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import TracebackType
from typing import NoReturn

from ivr.simulator.addressing import PublicAddress
from ivr.simulator.caller import Action, Caller, Hangup, Press, Speak
from ivr.simulator.errors import SimulatorError, TransportError, TwimlError
from ivr.simulator.media import RecordingServer, audio_seconds, is_silent, truncate_wav
from ivr.simulator.result import CallResult, Line, Request, Who
from ivr.simulator.transport import Reply, Transport
from ivr.simulator.twiml import Verb, parse_twiml
from ivr.simulator.voices import say_language

APPLICATION_ERROR = "An application error has occurred."
ERROR_HTTP = 11200  # HTTP retrieval failure
ERROR_DOCUMENT = 12100  # document parse failure
RECORD_FINISH_KEYS = "1234567890*#"
KEY_SECONDS = 0.4
BEEP_SECONDS = 0.5
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
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
WORD = re.compile(r"[^\W_]+", re.ASCII)


def country_of(number: str) -> str | None:
    """ISO country of an E.164 number, if its calling code is known."""
    if not number.startswith("+"):
        return None
    digits = number[1:]
    for length in (3, 2, 1):
        if digits[:length] in COUNTRY_CODES:
            return COUNTRY_CODES[digits[:length]]
    return None


def speaking_seconds(text: str) -> float:
    """A rough text-to-speech duration: ~4.5 CJK characters or ~2.8 words a second."""
    return round(0.5 + 0.22 * len(CJK.findall(text)) + 0.35 * len(WORD.findall(text)), 1)


def rfc2822(moment: datetime) -> str:
    """Twilio's timestamp format, e.g. ``Tue, 28 Jul 2020 18:53:07 +0000``."""
    return format_datetime(moment.replace(microsecond=0))


@dataclass(frozen=True)
class Document:
    """A fetched TwiML document and the public URL it came from."""

    url: str
    verbs: list[Verb]


class _CallEnded(Exception):
    """Internal: the call is over."""


class _Failure(Exception):
    """Internal: a document could not be fetched or parsed."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{detail} (error {code})")
        self.code = code


Handler = Callable[["CallRun", Verb, Document], "Document | None"]


class Simulator:
    """Plays Twilio against an app: places calls, signs and sends its webhooks."""

    def __init__(
        self,
        transport: Transport,
        *,
        public_base_url: str,
        auth_token: str,
        account_sid: str,
        incoming_path: str = "/voice/incoming",
        status_callback_path: str | None = "/voice/status",
        fallback_path: str | None = None,
        replay: bool = False,
        max_requests: int = 200,
        recording_server: RecordingServer | None = None,
        status_callback_first: bool = False,
        play_seconds: float = 5.0,
    ) -> None:
        self.transport = transport
        self.address = PublicAddress(public_base_url, auth_token)
        self.auth_token = auth_token
        self.account_sid = account_sid
        self.incoming_path = incoming_path
        self.status_callback_path = status_callback_path
        self.fallback_path = fallback_path
        self.replay = replay
        self.max_requests = max_requests
        self.status_callback_first = status_callback_first
        self.play_seconds = play_seconds
        self._recordings = recording_server
        self._owns_recordings = recording_server is None

    @property
    def recordings(self) -> RecordingServer:
        """The media server recordings go to (started on first use)."""
        if self._recordings is None:
            self._recordings = RecordingServer(self.account_sid, self.auth_token)
        return self._recordings

    def call(self, caller: Caller) -> CallResult:
        """Place one inbound call from ``caller`` and play it to the end."""
        return CallRun(self, caller).run()

    def close(self) -> None:
        """Close the transport, and the media server if this simulator started it."""
        close_transport = getattr(self.transport, "close", None)
        if close_transport is not None:
            close_transport()
        if self._owns_recordings and self._recordings is not None:
            self._recordings.close()
            self._recordings = None

    def __enter__(self) -> Simulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class CallRun:
    """One call in progress: its clock, script position and result."""

    def __init__(self, simulator: Simulator, caller: Caller) -> None:
        self.sim = simulator
        self.caller = caller
        self.script: list[Action] = list(caller.script)
        self.result = CallResult(sid="CA" + uuid.uuid4().hex)
        self.started = datetime.now(UTC)
        self.clock = 0.0
        self.call_status = "ringing"
        self.final_status = "completed"
        self.answered = False
        self.fetches = 0

    # -- the call ---------------------------------------------------------------------------

    def run(self) -> CallResult:
        """Fetch the incoming TwiML, execute documents until the call ends, report status."""
        try:
            try:
                document: Document | None = self.fetch(
                    self.sim.address.url(self.sim.incoming_path), {}
                )
                while document is not None:
                    document = self.execute(document)
            except _CallEnded:
                pass
            self.finish()
        except SimulatorError as exc:
            exc.result = self.result
            raise
        return self.result

    def execute(self, document: Document) -> Document | None:
        """Run a document's verbs; return the next document, or None when the call ends."""
        for verb in document.verbs:
            if verb.name != "Reject":
                self.answered = True
            handler = VERB_HANDLERS.get(verb.name)
            if handler is None:
                self.unsupported(verb)
            following = handler(self, verb, document)
            if following is not None:
                return following
        # Twilio hangs up when a document runs out of verbs.
        self.line("twilio", "hangup", "end of document")
        return None

    def finish(self) -> None:
        """Close the call and send the call status callback."""
        self.result.status = self.final_status
        self.result.duration = math.ceil(self.clock) if self.answered else 0
        if self.sim.status_callback_path is None:
            return
        form = self.params(self.final_status) | {
            "CallDuration": str(self.result.duration),
            "Timestamp": rfc2822(self.now()),
            "SequenceNumber": "0",
            "CallbackSource": "call-progress-events",
        }
        self.notify(self.sim.address.url(self.sim.status_callback_path), form)

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
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        for fields, number in (("From", "Caller"), caller.number), (("To", "Called"), caller.to):
            country = country_of(number)
            if country:
                for name in fields:
                    form[f"{name}Country"] = country
        form.update(caller.extra or {})
        return form

    def send(self, url: str, form: dict[str, str]) -> Reply:
        """Sign and POST ``form`` to public ``url`` (twice when replaying); the last reply."""
        path = self.sim.address.app_path(url)
        headers = {
            "X-Twilio-Signature": self.sim.address.signature(url, form),
            "User-Agent": "TwilioProxy/1.1",
            # Retries of one request carry the same token: apps may dedupe on it.
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        }
        reply = Reply(0, {}, "")
        for _ in range(2 if self.sim.replay else 1):
            try:
                reply = self.sim.transport.post(path, dict(form), dict(headers))
            except TransportError as exc:
                reply = Reply(0, {}, str(exc))
            self.result.requests.append(Request(path, dict(form), reply.status, url))
        return reply

    def notify(self, url: str, form: dict[str, str]) -> None:
        """A callback whose answer Twilio ignores; non-2xx is only a warning, as in Twilio."""
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
        except _Failure as failure:
            detail = f"POST {url}: {failure}"
            if not self.sim.fallback_path:
                self.fail(detail, APPLICATION_ERROR)
            fallback = self.sim.address.url(self.sim.fallback_path)
            form |= {"ErrorCode": str(failure.code), "ErrorUrl": url}
            try:
                document = Document(fallback, self.load(self.send(fallback, form)))
            except _Failure as second:
                self.fail(f"{detail}; fallback POST {fallback}: {second}", APPLICATION_ERROR)
            self.result.errors.append(f"{detail}; Twilio used the fallback URL")
        self.call_status = "in-progress"
        return document

    @staticmethod
    def load(reply: Reply) -> list[Verb]:
        """The verbs of a reply, or _Failure with Twilio's error code."""
        if reply.status == 0:
            raise _Failure(ERROR_HTTP, f"app unreachable: {reply.body}")
        if not 200 <= reply.status < 300:
            raise _Failure(ERROR_HTTP, f"HTTP {reply.status}")
        try:
            return parse_twiml(reply.body)
        except TwimlError as exc:
            raise _Failure(ERROR_DOCUMENT, f"invalid TwiML: {exc}") from None

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
        self.line("twilio", "error", heard)
        self.clock += ERROR_MESSAGE_SECONDS
        raise _CallEnded

    def unsupported(self, verb: Verb, detail: str = "") -> NoReturn:
        """End the call: the simulator cannot play this verb yet."""
        message = f"<{verb.name}>{detail} is not supported by the simulator yet"
        self.result.errors.append(message)
        self.line("twilio", "error", message)
        raise _CallEnded

    def next_action(self, where: str) -> Action:
        """The caller's next scripted action; an exhausted script hangs up."""
        if not self.script:
            self.line("caller", "hangup", f"(script ended at <{where}>)")
            raise _CallEnded
        return self.script.pop(0)

    def hang_up(self, why: str) -> NoReturn:
        """The caller hangs up."""
        self.line("caller", "hangup", why)
        raise _CallEnded

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


# -- verb handlers: return the next document, None to go on, or raise _CallEnded ---------------


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
        VERB_HANDLERS[child.name](run, child, document)
    timeout = run.number(verb, "timeout", 5.0)
    num_digits = int(run.number(verb, "numDigits", 0, low=1)) or None
    action = run.next_action("Gather")
    if isinstance(action, Hangup):
        run.hang_up("at the prompt")
    if isinstance(action, Speak):
        run.result.errors.append("caller script: Speak at a <Gather> (use Press or Silence)")
        run.line("caller", "error", "Speak at a <Gather>")
        raise _CallEnded
    digits, finished_on, ended = "", "", False
    if isinstance(action, Press):
        run.line("caller", "press", action.digits)
        run.clock += KEY_SECONDS * len(action.digits)
        digits, finished_on, ended = collect(
            action.digits, verb.attr("finishOnKey", "#"), num_digits
        )
    else:
        run.line("caller", "silence", f"{timeout:g}s")
    if not ended:
        run.clock += timeout
    if not digits and verb.attr("actionOnEmptyResult", "false").lower() != "true":
        return None
    url = run.target(verb, "action", document)
    return run.fetch(url, {"Digits": digits, "FinishedOnKey": finished_on})


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
    raise _CallEnded


def reject(run: CallRun, verb: Verb, document: Document) -> Document | None:
    """<Reject>: refuse the call; unanswered, it ends busy or no-answer."""
    reason = verb.attr("reason", "rejected")
    if not run.answered:
        run.final_status = "busy" if reason == "busy" else "no-answer"
    run.line("twilio", "hangup", f"<Reject reason={reason}>")
    raise _CallEnded


def recording_events(verb: Verb) -> set[str]:
    """The recordingStatusCallbackEvent values (space or comma separated; default completed)."""
    raw = verb.attr("recordingStatusCallbackEvent", "completed")
    return set(raw.replace(",", " ").split()) or {"completed"}


def recording_status_sender(
    run: CallRun, verb: Verb, document: Document, sid: str, url: str
) -> Callable[[str, dict[str, str]], None]:
    """A function that posts the Record's recordingStatusCallback for the events it asked for."""
    status_url = (
        run.target(verb, "recordingStatusCallback", document)
        if verb.attr("recordingStatusCallback")
        else None
    )
    events = recording_events(verb)
    started = rfc2822(run.now())

    def send(status: str, fields: dict[str, str]) -> None:
        if status_url is None or status not in events:
            return
        form = {
            "AccountSid": run.sim.account_sid,
            "CallSid": run.result.sid,
            "RecordingSid": sid,
            "RecordingUrl": url,
            "RecordingStatus": status,
            "RecordingChannels": "1",
            "RecordingStartTime": started,
            "RecordingSource": "RecordVerb",
            "ErrorCode": "0",
        }
        run.notify(status_url, form | fields)

    return send


def nothing_recorded(
    run: CallRun, action: Action, timeout: float, send_status: Callable[[str, dict[str, str]], None]
) -> None:
    """An empty recording: no action request, an ``absent`` status, the call goes on."""
    if isinstance(action, Press):
        run.line("caller", "press", action.digits)
        run.clock += KEY_SECONDS * len(action.digits)
    elif isinstance(action, Speak):
        run.line("caller", "record", "speaks only silence")
        run.clock += audio_seconds(action.audio) + (0 if action.hangup_after else timeout)
    else:
        run.line("caller", "silence", f"{timeout:g}s")
        run.clock += timeout
    too_short = isinstance(action, Press)
    send_status(
        "absent", {"RecordingDuration": "0", "ErrorCode": "16101" if too_short else "16102"}
    )
    if isinstance(action, Speak) and action.hangup_after:
        run.hang_up("during the recording")


def end_recording(
    run: CallRun, verb: Verb, action: Speak, seconds: float, max_length: float, timeout: float
) -> tuple[float, dict[str, str]]:
    """How the caller ends a recording: seconds recorded and the Digits Twilio reports."""
    if action.hangup_after:
        run.line("caller", "hangup", "during the recording")
        return seconds, {"Digits": "hangup"}
    if seconds >= max_length:
        run.line("twilio", "record", f"maxLength {max_length:g}s reached")
        return seconds, {}
    finish_keys = verb.attr("finishOnKey", RECORD_FINISH_KEYS)
    if action.key and action.key in finish_keys:
        run.line("caller", "press", action.key)
        run.clock += KEY_SECONDS
        return seconds, {"Digits": action.key}
    if action.key:
        # A key that does not finish the recording is only noise in it.
        run.line("caller", "press", f"{action.key} (not a finishOnKey)")
        run.clock += KEY_SECONDS
        seconds += KEY_SECONDS
    run.line("caller", "silence", f"{timeout:g}s ends the recording")
    run.clock += timeout
    if verb.attr("trim", "trim-silence") == "do-not-trim":
        seconds += timeout
    return min(seconds, max_length), {}


def record(run: CallRun, verb: Verb, document: Document) -> Document | None:
    """<Record>: beep, record what the caller says, request the action and status callback."""
    timeout = run.number(verb, "timeout", 5.0)
    max_length = run.number(verb, "maxLength", 3600.0, low=1)
    action = run.next_action("Record")
    if isinstance(action, Hangup):
        run.hang_up("before the beep")
    if verb.attr("playBeep", "true").lower() != "false":
        run.line("twilio", "beep")
        run.clock += BEEP_SECONDS
    sid = "RE" + uuid.uuid4().hex
    url = run.sim.recordings.url(sid)
    send_status = recording_status_sender(run, verb, document, sid, url)
    send_status("in-progress", {})
    if not isinstance(action, Speak) or is_silent(action.audio):
        nothing_recorded(run, action, timeout, send_status)
        return None
    seconds = min(audio_seconds(action.audio), max_length)
    run.line("caller", "record", f"speaks {seconds:.1f}s")
    run.clock += seconds
    recorded, extra = end_recording(run, verb, action, seconds, max_length, timeout)
    duration = str(max(1, int(recorded + 0.5)))
    run.sim.recordings.store(sid, truncate_wav(action.audio, max_length))
    extra |= {"RecordingUrl": url, "RecordingSid": sid, "RecordingDuration": duration}
    action_url = run.target(verb, "action", document)
    if run.sim.status_callback_first:
        send_status("completed", {"RecordingDuration": duration})
    try:
        if action.hangup_after:
            # The caller is gone: Twilio still posts the action but ignores its TwiML.
            run.notify(action_url, run.params("completed") | extra)
            raise _CallEnded
        return run.fetch(action_url, extra)
    finally:
        if not run.sim.status_callback_first:
            send_status("completed", {"RecordingDuration": duration})


VERB_HANDLERS: dict[str, Handler] = {
    "Say": say,
    "Play": play,
    "Pause": pause,
    "Gather": gather,
    "Record": record,
    "Redirect": redirect,
    "Hangup": hangup,
    "Reject": reject,
}
