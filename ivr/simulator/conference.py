"""<Dial><Conference>: join a named room, hear the others (or music), leave, go on to the action."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ivr.simulator.caller import Hangup, Hold, Wait
from ivr.simulator.conferences import (
    DEFAULT_MUSIC,
    MAX_NAME_LENGTH,
    Conference,
    Participant,
    wanted_events,
)
from ivr.simulator.control import (
    APPLICATION_ERROR,
    CallEnded,
    Complete,
    ConferenceNews,
    Document,
    Interrupted,
    Removed,
)
from ivr.simulator.enqueue import run_restricted
from ivr.simulator.errors import SimulatorError
from ivr.simulator.twiml import Verb

if TYPE_CHECKING:
    from ivr.simulator.call import CallRun

# Twilio's waitUrl and HoldUrl TwiML may hold only these verbs (TwiML docs, <Conference>).
MUSIC_VERBS = frozenset({"Play", "Say", "Pause", "Redirect"})
# How long a leg with nothing to do sits in the room before it looks again (simulated seconds).
SIT_SECONDS = 3600.0


def flag(verb: Verb, name: str, default: bool) -> bool:
    """A true/false attribute."""
    raw = verb.attr(name).lower()
    return default if raw == "" else raw == "true"


def music_url(run: CallRun, verb: Verb, name: str, document: Document) -> str:
    """waitUrl as Twilio reads it: absent is its hold music, empty is silence."""
    if name not in verb.attrs:
        return DEFAULT_MUSIC
    if not verb.attr(name):
        return ""
    return run.sim.address.resolve(verb.attr(name), document.url)


def dial_conference(run: CallRun, noun: Verb, document: Document) -> tuple[str, str, int]:
    """Join room ``noun.text`` until this leg leaves it; the Dial's (status, sid, duration)."""
    if run.sim.shared_clock is None:
        run.unsupported(noun, " without a time_scale (a room needs calls running side by side)")
    name = noun.text
    if not name or len(name) > MAX_NAME_LENGTH:
        run.fail(f"<Conference> name must be 1-{MAX_NAME_LENGTH} characters", APPLICATION_ERROR)
    events = wanted_events(noun.attr("statusCallbackEvent") or "start end")
    if events is None:
        run.fail(f"<Conference> bad statusCallbackEvent {noun.attr('statusCallbackEvent')!r}", "")
    callback = run.target(noun, "statusCallback", document) if noun.attr("statusCallback") else None
    if noun.attr("record") not in ("", "do-not-record"):
        run.result.warnings.append("<Conference record>: the simulator records no conference")
    sim = run.sim
    with sim.lock:
        room = sim.conferences.get_or_create(name, run.now())
        participant = Participant(
            run,
            room,
            label=noun.attr("participantLabel") or None,
            muted=flag(noun, "muted", False),
            coaching=bool(noun.attr("coach")),
            call_sid_to_coach=noun.attr("coach") or None,
            start_on_enter=flag(noun, "startConferenceOnEnter", True),
            end_on_exit=flag(noun, "endConferenceOnExit", False),
            beep=noun.attr("beep") or "true",
            wait_url=music_url(run, noun, "waitUrl", document),
            date_created=run.now(),
            date_updated=run.now(),
        )
        if callback is not None and room.callback_url is None:
            # The room keeps the callback of the first participant that gives one.
            room.callback_url, room.callback_events = callback, events or frozenset()
        run.line("twilio", "conference", f"joins {name} ({room.sid})")
        enter(participant)
    began = run.clock
    stay(run, participant)
    leaving = run.deadline_reason
    try:
        sit(run, participant)
    except Interrupted as stop:
        reason = stop.reason
        depart(participant, "left")
        forget_room(run)
        if isinstance(reason, Removed):
            run.line("twilio", "conference", f"out of {name}: {reason.why}")
            # Twilio's DialCallStatus for a conference is "answered" (not "completed").
            return "answered", "", round(run.clock - began)
        if isinstance(reason, Complete) and reason.error is not None:
            run.result.errors.append(reason.error)
            run.line("twilio", "error", reason.error)
            raise CallEnded from None
        if reason is leaving:
            run.hang_up(f"{reason.why} in conference {name}")  # type: ignore[union-attr]
        if isinstance(reason, Complete):
            run.stopped(reason)
            raise CallEnded from None
        raise
    except CallEnded:
        depart(participant, "left")
        forget_room(run)
        raise
    finally:
        run.deadline = run.deadline_reason = None
    raise AssertionError("unreachable")  # pragma: no cover


def stay(run: CallRun, participant: Participant) -> None:
    """How long the leg stays: the caller's Wait, a callee's talk time, else until removed."""
    if run.script and isinstance(run.script[0], Hold):
        run.script.pop(0)  # a queue's Hold: what follows is for after the queue
    if run.script and isinstance(run.script[0], Hangup):
        run.script.pop(0)
        run.set_deadline(0.0, Complete("hangs up"))
    elif run.script and isinstance(run.script[0], Wait):
        seconds = run.script.pop(0).seconds  # type: ignore[union-attr]
        run.set_deadline(seconds, Complete(f"hangs up after {seconds:g}s"))
    elif run.direction != "inbound":
        run.set_deadline(run.talk_seconds, Complete(f"hangs up after {run.talk_seconds:g}s"))
    else:
        limit = run.sim.queue_wait_limit
        room = participant.conference.name
        run.set_deadline(
            limit,
            Complete(
                f"still in the room after {limit:g}s",
                error=f"caller still in conference {room!r} after the {limit:g}s safety limit",
            ),
        )


def sit(run: CallRun, participant: Participant) -> None:
    """Stay in the room, playing wait or hold music when there is some; returns never."""
    while True:
        with run.sim.lock:
            room = participant.conference
            fetch = True
            if participant.hold:
                music = participant.hold_url or DEFAULT_MUSIC
                fetch = participant.hold_fetched
            elif not room.started:
                music = participant.wait_url or ""
            else:
                music = ""
        try:
            if music:
                play_music(run, participant, music, fetch=fetch)
            else:
                run.clock += SIT_SECONDS
        except Interrupted as stop:
            if not isinstance(stop.reason, ConferenceNews):
                raise


def play_music(run: CallRun, participant: Participant, url: str, *, fetch: bool) -> None:
    """One pass of a waitUrl or HoldUrl: TwiML on the app is fetched, anything else played."""
    try:
        run.sim.address.app_path(url)
    except SimulatorError:
        fetch = False
    if not fetch:
        run.line("twilio", "play", url)
        run.clock += run.sim.play_seconds
        return
    room = participant.conference
    fields = {"ConferenceSid": room.sid, "FriendlyName": room.name}
    before = run.clock
    holding = participant.hold
    document = run.fetch(url, fields)
    with run.sim.lock:
        # Taken off hold (or the room started) while the music was being fetched: Twilio stops
        # the music at once, so none of what came back is played.
        if participant.hold != holding or (not holding and room.started):
            return
    run_restricted(run, document, MUSIC_VERBS, "conference music")
    if run.clock == before:
        run.clock += run.sim.play_seconds  # an empty document must not spin


def enter(participant: Participant) -> None:
    """Put ``participant`` in its room: join event, beep, maybe start (under the lock)."""
    room = participant.conference
    at = participant.joined_at = now(participant)
    if participant.beep in ("true", "onEnter"):
        for other in room.participants:
            other.run.line("twilio", "beep", f"{participant.name} joins")
    room.participants.append(participant)
    room.everyone.append(participant)
    room.date_updated = participant.run.now()
    room.event("participant-join", participant)
    if room.should_start():
        room.status = "in-progress"
        room.event("conference-start", None)
        for other in room.participants:
            if other is not participant:
                room.wake(other)
    room.refresh(at)


def depart(participant: Participant, how: str) -> None:
    """Take ``participant`` out of its room (``how``: left or kicked); the room may end."""
    run = participant.run
    with run.sim.lock:
        room = participant.conference
        if participant not in room.participants:
            return
        leave_room(participant)
        if participant.end_on_exit:
            end_room(room, f"participant-with-end-conference-on-exit-{how}", participant.call_sid)
        elif not room.participants:
            end_room(room, f"last-participant-{how}", participant.call_sid)
        else:
            room.refresh(now(participant))


def leave_room(participant: Participant) -> None:
    """The leave itself: status, event, beep (under the lock)."""
    room = participant.conference
    room.participants.remove(participant)
    participant.status = "complete"
    participant.left_at = now(participant)
    room.date_updated = participant.run.now()
    forget_room(participant.run)
    room.event("participant-leave", participant)
    if participant.beep in ("true", "onExit"):
        for other in room.participants:
            other.run.line("twilio", "beep", f"{participant.name} leaves")


def forget_room(run: CallRun) -> None:
    """Drop news of a room the leg has left: a kick racing a redirect must not end new TwiML."""
    with run.wakeup:
        run.interrupts[:] = [
            r for r in run.interrupts if not isinstance(r, ConferenceNews | Removed)
        ]


def end_room(room: Conference, reason: str, call_sid: str | None) -> None:
    """End the conference: everyone left is taken out, then conference-end (under the lock)."""
    if room.status == "completed":
        return
    remaining = list(room.participants)
    for participant in remaining:
        leave_room(participant)
    room.status = "completed"
    room.reason_ended, room.call_sid_ending = reason, call_sid
    extra = {"ReasonConferenceEnded": reason}
    if call_sid:
        extra["CallSidEndingConference"] = call_sid
    room.event("conference-end", None, extra)
    room.outbox.put(None)
    for participant in remaining:
        participant.run.interrupt(Removed(f"the conference ended ({reason})"))


def now(participant: Participant) -> float:
    """Simulator seconds (the shared clock) for the room's timeline."""
    shared = participant.run.sim.shared_clock
    return shared.now() if shared is not None else participant.run.clock
