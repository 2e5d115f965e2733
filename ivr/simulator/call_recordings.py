"""Call recordings (``POST …/Calls/{CallSid}/Recordings.json``): one leg's conversation; and
``<Dial record>``'s recording of a dialled conversation.

In dual channel, channel 1 is what the leg says (its Utterances) and channel 2 what it hears:
the Utterances of the others in its conference while it hears them (not on hold, not muted, a
coach only by the one coached). A ``<Dial>`` recording has the dialling (parent) leg on channel 1
and the dialled (child) leg on channel 2, from the moment they are bridged. Paused stretches are
silence or cut out (PauseBehavior), whichever way the recording was started.
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ivr.simulator.media import _pydub
from ivr.simulator.timing import rfc2822

if TYPE_CHECKING:
    from ivr.simulator.call import CallRun
    from ivr.simulator.caller import Utterance
    from ivr.simulator.conferences import Conference, Participant
    from ivr.simulator.simulator import Simulator

RATE = 8000
EVENTS = frozenset({"in-progress", "completed", "absent"})
SOURCE = "StartCallRecordingAPI"
Stretch = tuple[float, float]


@dataclass(eq=False)
class CallRecording:
    """One recording of one call leg, from start to stop in simulator seconds."""

    run: CallRun
    started: float
    date_created: datetime
    channels: int = 1
    track: str = "both"
    callback: str | None = None
    events: frozenset[str] = frozenset({"completed"})
    sid: str = field(default_factory=lambda: "RE" + uuid.uuid4().hex)
    status: str = "in-progress"
    # [from, to (None while paused), behavior] per pause, in simulator seconds.
    pauses: list[list[Any]] = field(default_factory=list)
    ended: float | None = None
    duration: int | None = None
    date_updated: datetime | None = None
    source: str = SOURCE
    dialled: CallRun | None = None  # <Dial record>: the child leg, heard on channel 2

    def describe(self, account_sid: str) -> dict[str, object]:
        """The recording as Twilio's REST API shows it."""
        call_sid = self.run.result.sid
        return {
            "account_sid": account_sid,
            "api_version": "2010-04-01",
            "call_sid": call_sid,
            "conference_sid": None,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated or self.date_created),
            "start_time": rfc2822(self.date_created),
            "duration": None if self.duration is None else str(self.duration),
            "sid": self.sid,
            "price": None,
            "price_unit": "USD",
            "status": self.status,
            "channels": self.channels,
            "source": self.source,
            "error_code": None,
            "track": self.track,
            "encryption_details": None,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}/Recordings/{self.sid}.json",
        }


class CallRecordings:
    """The simulator's call recordings: started, paused, stopped, then rendered and reported."""

    def __init__(self, simulator: Simulator) -> None:
        self.sim = simulator
        self.all: list[CallRecording] = []

    def now(self, run: CallRun) -> float:
        """Simulator seconds on the shared clock (the conference timeline)."""
        shared = self.sim.shared_clock
        return shared.now() if shared is not None else run.origin + run.clock

    def start(self, run: CallRun, **options: Any) -> CallRecording:
        """Start recording ``run`` now (under the lock); the in-progress callback if asked."""
        recording = CallRecording(run, self.now(run), run.now(), **options)
        self.all.append(recording)
        if "in-progress" in recording.events and recording.callback:
            form = self.form(recording, "in-progress")
            threading.Thread(
                target=run.notify, args=(recording.callback, form), daemon=True
            ).start()
        return recording

    def of_call(self, call_sid: str) -> list[CallRecording]:
        """The call's recordings, oldest first."""
        return [r for r in self.all if r.run.result.sid == call_sid]

    def current(self, call_sid: str) -> CallRecording | None:
        """Twilio.CURRENT: the call's latest recording still in progress or paused."""
        live = [r for r in self.of_call(call_sid) if r.status in ("in-progress", "paused")]
        return live[-1] if live else None

    def pause(self, recording: CallRecording, behavior: str) -> None:
        """Pause (under the lock); a paused recording stays paused."""
        if recording.status == "in-progress":
            recording.status = "paused"
            recording.pauses.append([self.now(recording.run), None, behavior])
            recording.date_updated = recording.run.now()

    def resume(self, recording: CallRecording) -> None:
        """Resume a paused recording (under the lock)."""
        if recording.status == "paused":
            recording.status = "in-progress"
            recording.pauses[-1][1] = self.now(recording.run)
            recording.date_updated = recording.run.now()

    def stop(self, recording: CallRecording) -> bool:
        """End the recording now (under the lock); False if it had ended already."""
        if recording.status not in ("in-progress", "paused"):
            return False
        recording.ended = self.now(recording.run)
        if recording.status == "paused":
            recording.pauses[-1][1] = recording.ended
        recording.status = "processing"
        recording.date_updated = recording.run.now()
        return True

    def call_ended(self, run: CallRun) -> None:
        """The call is over: its recordings end, are stored and reported (in the call's thread)."""
        with self.sim.lock:
            ending = [r for r in self.of_call(run.result.sid) if self.stop(r)]
        for recording in ending:
            try:
                self.complete(recording)
            except Exception as exc:  # pydub/ffmpeg: the call itself must still end
                run.result.errors.append(f"recording {recording.sid} failed: {exc!s:.200}")

    def complete(self, recording: CallRecording) -> None:
        """Render the audio, keep it on the media server, send the status callback."""
        audio = render(self.sim, recording)
        seconds = len(audio) / 1000.0
        recording.duration = round(seconds)
        if recording.duration == 0:  # under half a second: Twilio keeps no file, "absent"
            recording.status, event = "absent", "absent"
        else:
            out = io.BytesIO()
            audio.export(out, format="wav")
            self.sim.recordings.store(recording.sid, out.getvalue())
            recording.status = event = "completed"
        recording.run.line(
            "twilio", "recording", f"{recording.sid} {event} ({recording.duration}s)"
        )
        if event in recording.events and recording.callback:
            recording.run.notify(recording.callback, self.form(recording, event))

    def form(self, recording: CallRecording, status: str) -> dict[str, str]:
        """The recordingStatusCallback's fields."""
        form = {
            "AccountSid": self.sim.account_sid,
            "CallSid": recording.run.result.sid,
            "RecordingSid": recording.sid,
            "RecordingUrl": self.sim.recordings.url(recording.sid),
            "RecordingStatus": status,
            "RecordingChannels": str(recording.channels),
            "RecordingStartTime": rfc2822(recording.date_created),
            "RecordingSource": recording.source,
            "RecordingTrack": recording.track,
            "ErrorCode": "0",
        }
        if status != "in-progress":
            form["RecordingDuration"] = str(recording.duration or 0)
        return form


def render(sim: Simulator, recording: CallRecording) -> Any:
    """The recording's audio (a pydub AudioSegment): mono mix, or says/hears in two channels."""
    pydub = _pydub()
    start, end = recording.started, recording.ended or recording.started
    length = max(0.0, end - start) * 1000

    def silent() -> Any:
        return pydub.AudioSegment.silent(duration=length, frame_rate=RATE)

    says, hears = silent(), silent()
    if recording.dialled is not None:  # <Dial record>: both legs from the bridge on
        says = lay(says, recording.run.caller.says, start, end, [(start, end)], start)
        hears = lay(hears, recording.dialled.caller.says, start, end, [(start, end)], start)
        return finish(recording, says, hears, silent)
    with sim.lock:
        places = [
            (room, p) for room in sim.conferences for p in room.everyone if p.run is recording.run
        ]
    for room, me in places:
        here = (me.joined_at, me.left_at if me.left_at is not None else end)
        if recording.track in ("inbound", "both"):
            says = lay(says, *spoken(me), [here], start)
        if recording.track in ("outbound", "both"):
            for other in room.everyone:
                if other is not me:
                    heard = heard_stretches(room, me, other, here)
                    hears = lay(hears, *spoken(other), heard, start)
    return finish(recording, says, hears, silent)


def finish(recording: CallRecording, says: Any, hears: Any, silent: Callable[[], Any]) -> Any:
    """The two sides with the pauses applied, as one mixed or two separate channels."""
    pydub = _pydub()
    end = recording.ended or recording.started
    start = recording.started
    for began, stopped, behavior in reversed(recording.pauses):
        a, b = (max(0.0, began - start) * 1000, max(0.0, (stopped or end) - start) * 1000)
        gap = silent()[: b - a] if behavior == "silence" else silent()[:0]
        says, hears = (part[:a] + gap + part[b:] for part in (says, hears))
    if recording.channels == 2:
        # Float millisecond slices may leave the two a frame or two apart.
        frames = int(min(says.frame_count(), hears.frame_count()))
        says, hears = (part.get_sample_slice(0, frames) for part in (says, hears))
        return pydub.AudioSegment.from_mono_audiosegments(says, hears)
    return says.overlay(hears)


def spoken(speaker: Participant) -> tuple[list[Utterance], float, float | None]:
    """What a participant says, when they joined the room and when they left it."""
    return speaker.run.caller.says, speaker.joined_at, speaker.left_at


def lay(
    track: Any,
    says: list[Utterance],
    joined: float,
    left: float | None,
    stretches: list[Stretch],
    start: float,
) -> Any:
    """``track`` with the Utterances (said from ``joined``, until ``left``) laid on it where
    they fall within ``stretches``."""
    pydub = _pydub()
    for utterance in says:
        said = pydub.AudioSegment.from_file(io.BytesIO(utterance.audio), format="wav")
        said = said.set_channels(1).set_frame_rate(RATE).set_sample_width(2)
        at = joined + utterance.at
        until = min(at + len(said) / 1000, left if left is not None else float("inf"))
        for a, b in stretches:
            a, b = max(a, at, start), min(b, until)
            if b > a:
                piece = said[(a - at) * 1000 : (b - at) * 1000]
                track = track.overlay(piece, position=(a - start) * 1000)
    return track


def heard_stretches(
    room: Conference, listener: Participant, speaker: Participant, within: Stretch
) -> list[Stretch]:
    """When ``listener`` heard ``speaker`` in ``room`` (from the room's Heard changes)."""
    changes = [h for h in room.heard if h.call_sid == listener.call_sid]
    stretches: list[Stretch] = []
    for heard, following in zip(changes, [*changes[1:], None], strict=True):
        if speaker.call_sid not in heard.speakers:
            continue
        a = max(heard.at, within[0])
        b = min(following.at if following else within[1], within[1])
        if b > a:
            stretches.append((a, b))
    return stretches
