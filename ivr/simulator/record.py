"""<Record>: take the caller's message and report it to the app."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from ivr.simulator.caller import Action, Hangup, Press, Speak
from ivr.simulator.control import CallEnded, Document
from ivr.simulator.media import audio_seconds, is_silent, truncate_wav
from ivr.simulator.say import KEY_SECONDS
from ivr.simulator.timing import rfc2822
from ivr.simulator.twiml import Verb

if TYPE_CHECKING:
    from ivr.simulator.call import CallRun

RECORD_FINISH_KEYS = "1234567890*#"
BEEP_SECONDS = 0.5


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
            raise CallEnded
        return run.fetch(action_url, extra)
    finally:
        if not run.sim.status_callback_first:
            send_status("completed", {"RecordingDuration": duration})
