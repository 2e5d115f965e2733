"""<Dial>: take the head of a queue, ring a number or client and talk to them, or join a room."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ivr.simulator.agents import ring_outcome
from ivr.simulator.caller import Caller
from ivr.simulator.conference import dial_conference
from ivr.simulator.control import (
    Bridge,
    CallEnded,
    Document,
    Interrupted,
    PartyLeft,
)
from ivr.simulator.enqueue import run_restricted
from ivr.simulator.twiml import Verb

if TYPE_CHECKING:
    from ivr.simulator.call import CallRun
    from ivr.simulator.call_recordings import CallRecording

DIAL_NOUNS = frozenset({"Queue", "Number", "Client", "Conference"})
# <Dial record>: whether each value records, from ringing, in two channels (Twilio's list).
DIAL_RECORD = {
    "do-not-record": None,
    "record-from-answer": (False, 1),
    "record-from-ringing": (True, 1),
    "record-from-answer-dual": (False, 2),
    "record-from-ringing-dual": (True, 2),
}
WHISPER_VERBS = frozenset({"Play", "Say", "Pause"})
# How often (simulated seconds) an agent dialling an empty queue looks again.
QUEUE_POLL_SECONDS = 0.5

Outcome = tuple[str, str, int]


def dial(run: CallRun, verb: Verb, document: Document) -> Document | None:
    """<Dial>: one <Queue>, <Number>, <Client> or <Conference> (or a bare number); the action."""
    nouns = [child for child in verb.children if child.name in DIAL_NOUNS]
    if not nouns and verb.text and not verb.children:
        nouns = [Verb("Number", text=verb.text)]
    if len(nouns) != 1 or len(verb.children) > 1:
        run.unsupported(verb, " without exactly one <Queue>, <Number>, <Client> or <Conference>")
    noun = nouns[0]
    timeout = run.number(verb, "timeout", 30.0, low=1)
    run.line("twilio", "dial", f"<{noun.name}> {noun.text}")
    if noun.name == "Queue":
        status, sid, duration = dial_queue(run, noun, timeout, document)
    elif noun.name == "Conference":
        status, sid, duration = dial_conference(run, noun, document)
    else:
        number = noun.text if noun.name == "Number" else f"client:{noun.text}"
        # Twilio shows the dialling leg's own From unless callerId says otherwise.
        caller_id = verb.attr("callerId") or run.caller.number
        recorder = DialRecorder(run, verb, document)
        status, sid, duration = dial_party(
            run, noun, number, caller_id, timeout, document, recorder
        )
    if not verb.attr("action"):
        return None
    fields = {"DialCallStatus": status, "DialCallDuration": str(duration)}
    if sid:
        fields["DialCallSid"] = sid
    if noun.name in ("Number", "Client"):
        fields |= recorder.action_fields()
    return run.fetch(run.target(verb, "action", document), fields)


class DialRecorder:
    """``<Dial record>`` of a Number or Client: the conversation from the bridge (or from the
    ringing) to its end, parent leg on channel 1 and child on channel 2 when dual."""

    def __init__(self, run: CallRun, verb: Verb, document: Document) -> None:
        value = verb.attr("record", "do-not-record")
        if value not in DIAL_RECORD:
            run.unsupported(verb, f" with record={value!r}")
        self.run, self.how = run, DIAL_RECORD[value]
        self.callback = (
            run.target(verb, "recordingStatusCallback", document)
            if verb.attr("recordingStatusCallback")
            else None
        )
        events = verb.attr("recordingStatusCallbackEvent", "completed").replace(",", " ").split()
        self.events = frozenset(events or ["completed"])
        self.recording: CallRecording | None = None

    def start(self, leg: CallRun, *, ringing: bool) -> None:
        """Start recording at this moment if the verb asked to start now."""
        if self.how is None or self.how[0] != ringing or self.recording is not None:
            return
        book = self.run.sim.call_recordings
        with self.run.sim.lock:
            self.recording = book.start(
                self.run, channels=self.how[1], callback=self.callback, events=self.events,
                source="DialVerb", dialled=leg,
            )  # fmt: skip

    def stop(self) -> None:
        """The dialled conversation is over: the file is made and reported."""
        book = self.run.sim.call_recordings
        with self.run.sim.lock:
            stopped = self.recording is not None and book.stop(self.recording)
        if stopped and self.recording is not None:
            try:
                book.complete(self.recording)
            except Exception as exc:  # pydub/ffmpeg: the call itself must go on
                self.run.result.errors.append(f"recording failed: {exc!s:.200}")

    def action_fields(self) -> dict[str, str]:
        """What Twilio adds to the Dial's action when it recorded."""
        made = self.recording
        if made is None or made.status != "completed":
            return {}
        return {
            "RecordingUrl": self.run.sim.recordings.url(made.sid),
            "RecordingSid": made.sid,
            "RecordingDuration": str(made.duration or 0),
        }


def dial_queue(run: CallRun, noun: Verb, timeout: float, document: Document) -> Outcome:
    """Bridge with the head of the queue, waiting up to ``timeout`` for someone to arrive."""
    name = noun.text
    url = run.target(noun, "url", document) if noun.attr("url") else None
    with run.sim.lock:
        queue = run.sim.queues.get(name)
    if queue is None:
        # Twilio: dialling a queue that does not exist posts an error status to the action.
        run.line("twilio", "dial", f"no queue called {name!r}")
        return "failed", "", 0
    began = run.clock
    while True:
        with run.sim.lock:
            member = queue.take_head()
            bridge = Bridge(run, queue, url) if member is not None else None
        if member is None or bridge is None:
            left = timeout - (run.clock - began)
            if left <= 0:
                run.line("twilio", "dial", f"nobody waiting in {name} after {timeout:g}s")
                return "no-answer", "", 0
            run.clock += min(QUEUE_POLL_SECONDS, left)
            continue
        member.run.interrupt(bridge)
        try:
            run.wait_for(bridge.connected.is_set, f"{member.call_sid} to be connected")
        except (Interrupted, CallEnded):
            end_bridge(run, bridge, 0)
            raise
        if not bridge.caller_gone:
            return talk(run, bridge, member.run.party, member.call_sid)
        # The member hung up as it was taken: try the next one.


def end_bridge(run: CallRun, bridge: Bridge, duration: int) -> None:
    """Close the bridge from the agent's side and wake the member."""
    with run.sim.lock:
        if not bridge.ended.is_set():
            bridge.duration = duration
            bridge.ended.set()
    if bridge.member is not None:
        bridge.member.wake()


def talk(run: CallRun, bridge: Bridge, party: str, sid: str) -> Outcome:
    """Talk for the leg's talk_seconds (or until the other side leaves), then end the bridge."""
    run.line("twilio", "bridged", f"with {party} ({sid}), who waited {bridge.queue_time}s")
    started = run.clock
    try:
        run.clock += run.talk_seconds
        run.line("caller", "bridge-ended", f"hangs up on {party} after {run.talk_seconds:g}s")
    except Interrupted as stop:
        if not isinstance(stop.reason, PartyLeft):
            end_bridge(run, bridge, round(run.clock - started))
            raise
        run.line("twilio", "bridge-ended", f"{party} hung up")
    duration = round(run.clock - started)
    end_bridge(run, bridge, duration)
    return "completed", sid, duration


def dial_party(
    run: CallRun,
    noun: Verb,
    number: str,
    caller_id: str,
    timeout: float,
    document: Document,
    recorder: DialRecorder,
) -> Outcome:
    """Ring a number or client (an agent or the default callee), whisper, talk."""
    callee = run.sim.callee(number)
    leg = run.spawn_leg(
        Caller(
            number=caller_id,
            to=number,
            script=list(callee.script) if callee else [],
            says=list(callee.says) if callee else [],
        ),
        "outbound-dial",
    )
    with run.sim.lock:
        run.sim.outbound_results.append(leg.result)
    outcome, rang = ring_outcome(callee, timeout)
    try:
        if outcome != "failed" and outcome != "busy":
            run.line("twilio", "ringing", number)
            recorder.start(leg, ringing=True)
            run.clock += rang
        if outcome == "declined":
            run.line("twilio", "dial", f"{number}: declined")
            outcome = "busy"  # Twilio has no declined status: the caller hears busy
        if outcome != "answered" or callee is None:
            run.line("twilio", "dial", f"{number}: {outcome}")
            leg.final_status = outcome
            return outcome, leg.result.sid, 0
        leg.answered = True
        leg.answered_at = leg.clock
        leg.call_status = "in-progress"
        leg.line("caller", "answer", f"call from {caller_id}")
        if noun.attr("url"):
            began = leg.clock
            whisper = leg.fetch(run.target(noun, "url", document), {})
            try:
                run_restricted(leg, whisper, WHISPER_VERBS, f"<{noun.name} url>")
            except CallEnded:
                run.line("twilio", "dial", f"{number} hung up during the whisper")
                return "no-answer", leg.result.sid, 0
            run.catch_up(leg.clock - began)
        # The whisper is over: Twilio connects the two, and a recording from answer starts.
        recorder.start(leg, ringing=False)
        run.line("twilio", "bridged", f"with {number}")
        leg.line("twilio", "bridged", f"with {run.party}")
        started = run.clock
        try:
            run.clock += callee.talk_seconds
        except Interrupted:
            leg.line("twilio", "hangup", "the other party left")
            raise
        leg.catch_up(callee.talk_seconds)
        duration = round(run.clock - started)
        leg.line("caller", "hangup", f"after talking {duration}s")
        run.line("twilio", "bridge-ended", f"{number} hung up after {duration}s")
        return "completed", leg.result.sid, duration
    finally:
        recorder.stop()
        leg.result.status = leg.final_status
        leg.result.duration = leg.duration()
        leg.close()
