"""Twilio's conference rooms: who is in, who hears whom, and the conference status callbacks.

Everything here is read and changed under the simulator's lock; callbacks are posted in
SequenceNumber order by one sender thread per conference, so an app that answers a callback by
calling the REST API (which takes the lock) never blocks a participant's thread.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ivr.simulator.control import ConferenceNews, Removed
from ivr.simulator.timing import rfc2822

if TYPE_CHECKING:
    from ivr.simulator.call import CallRun

# Twilio's standard hold music: played while waiting alone, and on hold without a HoldUrl.
DEFAULT_MUSIC = "http://twimlets.com/holdmusic?Bucket=com.twilio.music.classical"
MAX_NAME_LENGTH = 128
# statusCallbackEvent words and the StatusCallbackEvent values each one asks for.
EVENT_WORDS = {
    "start": ("conference-start",),
    "end": ("conference-end",),
    "join": ("participant-join",),
    "leave": ("participant-leave",),
    "mute": ("participant-mute", "participant-unmute"),
    "hold": ("participant-hold", "participant-unhold"),
    "modify": ("participant-modify",),
    "speaker": ("participant-speech-start", "participant-speech-stop"),
    "announcement": ("announcement-end", "announcement-fail"),
}


def wanted_events(words: str) -> frozenset[str] | None:
    """The StatusCallbackEvent values ``words`` (space or comma separated) ask for; None if bad."""
    events: set[str] = set()
    for word in words.replace(",", " ").split():
        if word not in EVENT_WORDS:
            return None
        events.update(EVENT_WORDS[word])
    return frozenset(events)


@dataclass(eq=False)
class Participant:
    """One call leg in a conference, with the switches the REST API can flip."""

    run: CallRun
    conference: Conference
    label: str | None = None
    muted: bool = False
    hold: bool = False
    hold_url: str | None = None
    # Twilio requests HoldUrl with GET unless told otherwise; the simulator only POSTs.
    hold_fetched: bool = False
    coaching: bool = False
    call_sid_to_coach: str | None = None
    start_on_enter: bool = True
    end_on_exit: bool = False
    beep: str = "true"
    wait_url: str | None = DEFAULT_MUSIC
    status: str = "connected"
    date_created: datetime | None = None
    date_updated: datetime | None = None
    hearing: str | None = None
    # Simulator seconds (shared clock) of joining and leaving: when its Utterances are said.
    joined_at: float = 0.0
    left_at: float | None = None

    @property
    def call_sid(self) -> str:
        """The participant's CallSid."""
        return self.run.result.sid

    @property
    def name(self) -> str:
        """Who this is in transcripts: the label, else the number on the leg."""
        return self.label or self.run.party

    def heard_by(self, listener: Participant) -> bool:
        """True if ``listener`` hears this participant speak right now."""
        if listener is self or self.muted or self.hold or listener.hold:
            return False
        if not self.conference.started:
            return False
        # A coach is heard by the participant it coaches, and by nobody else.
        return not self.coaching or listener.call_sid == self.call_sid_to_coach

    def describe(self, account_sid: str) -> dict[str, object]:
        """The participant as Twilio's REST API shows it."""
        conference = self.conference
        return {
            "account_sid": account_sid,
            "call_sid": self.call_sid,
            "label": self.label,
            "call_sid_to_coach": self.call_sid_to_coach,
            "coaching": self.coaching,
            "conference_sid": conference.sid,
            "date_created": rfc2822(self.date_created) if self.date_created else None,
            "date_updated": rfc2822(self.date_updated) if self.date_updated else None,
            "end_conference_on_exit": self.end_on_exit,
            "muted": self.muted,
            "hold": self.hold,
            "start_conference_on_enter": self.start_on_enter,
            "status": self.status,
            "queue_time": None,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Conferences/{conference.sid}"
            f"/Participants/{self.call_sid}.json",
        }


@dataclass(frozen=True)
class Heard:
    """From ``at`` (simulator seconds), ``listener`` hears ``voices`` or, with none, ``music``."""

    at: float
    listener: str
    call_sid: str
    voices: tuple[str, ...]
    music: str | None
    # The CallSids behind ``voices``: whose speech a call recording's "hears" channel takes.
    speakers: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Callback:
    """A conference status callback waiting to be posted (through a participant's leg)."""

    url: str
    form: dict[str, str]
    run: CallRun


@dataclass(eq=False)
class Conference:
    """A named conference room (ConferenceSid ``CF`` + 32 hex), created by its first participant."""

    name: str
    sid: str = field(default_factory=lambda: "CF" + uuid.uuid4().hex)
    status: str = "init"
    participants: list[Participant] = field(default_factory=list)
    everyone: list[Participant] = field(default_factory=list)
    heard: list[Heard] = field(default_factory=list)
    callback_url: str | None = None
    callback_events: frozenset[str] = frozenset()
    sequence: int = 0
    date_created: datetime | None = None
    date_updated: datetime | None = None
    reason_ended: str | None = None
    call_sid_ending: str | None = None
    outbox: queue.Queue[Callback | None] = field(default_factory=queue.Queue)
    sender: threading.Thread | None = None

    @property
    def started(self) -> bool:
        """True while the conference is in progress."""
        return self.status == "in-progress"

    def find(self, call_sid_or_label: str) -> Participant | None:
        """A present participant by CallSid or label."""
        return next(
            (p for p in self.participants if call_sid_or_label in (p.call_sid, p.label)), None
        )

    def should_start(self) -> bool:
        """Twilio starts a room once two are in and one of them starts it on entering."""
        return (
            self.status == "init"
            and len(self.participants) >= 2
            and any(p.start_on_enter for p in self.participants)
        )

    def refresh(self, at: float) -> None:
        """Note, for each participant whose hearing changed, what they hear from now on."""
        for listener in self.participants:
            speakers = [p for p in self.participants if p.heard_by(listener)]
            voices = tuple(p.name for p in speakers)
            heard = listener.run.result.heard_in_conference
            heard.extend(p.run.party for p in speakers if p.run.party not in heard)
            music: str | None = None
            if listener.hold:
                music = listener.hold_url or DEFAULT_MUSIC
            elif not self.started:
                music = listener.wait_url or ""
            hearing = f"{voices}|{music}"
            if hearing == listener.hearing:
                continue
            listener.hearing = hearing
            self.heard.append(
                Heard(
                    round(at, 1),
                    listener.name,
                    listener.call_sid,
                    voices,
                    music,
                    tuple(p.call_sid for p in speakers),
                )
            )
            if voices:
                text = "hears " + ", ".join(voices)
            elif music:
                text = f"hears music {music}"
            else:
                text = "hears silence" if music == "" else "hears nobody"
            listener.run.line("twilio", "conference", f"{self.name}: {text}")

    def wake(self, participant: Participant) -> None:
        """Make a participant's leg look again at the room (start, hold, unhold)."""
        participant.run.interrupt(ConferenceNews())

    def remove_all(self, why: str) -> None:
        """The conference ended: every participant is taken out of it."""
        for participant in list(self.participants):
            participant.run.interrupt(Removed(why))

    def event(
        self, name: str, participant: Participant | None, extra: dict[str, str] | None = None
    ) -> None:
        """Queue a status callback for ``name`` if the room asked for it (call under the lock)."""
        anyone = participant or (self.everyone[-1] if self.everyone else None)
        if self.callback_url is None or name not in self.callback_events or anyone is None:
            return
        self.sequence += 1
        run = anyone.run
        form = {
            "AccountSid": run.sim.account_sid,
            "ConferenceSid": self.sid,
            "FriendlyName": self.name,
            "StatusCallbackEvent": name,
            "SequenceNumber": str(self.sequence),
            "Timestamp": rfc2822(run.now()),
        }
        if participant is not None:
            form |= {
                "CallSid": participant.call_sid,
                "Muted": str(participant.muted).lower(),
                "Hold": str(participant.hold).lower(),
                "Coaching": str(participant.coaching).lower(),
                "EndConferenceOnExit": str(participant.end_on_exit).lower(),
                "StartConferenceOnEnter": str(participant.start_on_enter).lower(),
            }
            if participant.call_sid_to_coach:
                form["CallSidToCoach"] = participant.call_sid_to_coach
            if participant.label:
                form["ParticipantLabel"] = participant.label
        self.outbox.put(Callback(self.callback_url, form | (extra or {}), run))
        if self.sender is None:
            self.sender = threading.Thread(
                target=self.send_callbacks, name=f"conference-{self.sid}", daemon=True
            )
            self.sender.start()

    def send_callbacks(self) -> None:
        """Post queued callbacks one by one, in order, until the conference-end one."""
        while True:
            callback = self.outbox.get()
            if callback is None:
                return
            time.sleep(callback.run.sim.room_events_late)
            callback.run.notify(callback.url, callback.form)
            if callback.form["StatusCallbackEvent"] == "conference-end":
                return

    def describe(self, account_sid: str) -> dict[str, object]:
        """The conference as Twilio's REST API shows it."""
        uri = f"/2010-04-01/Accounts/{account_sid}/Conferences/{self.sid}"
        return {
            "account_sid": account_sid,
            "date_created": rfc2822(self.date_created) if self.date_created else None,
            "date_updated": rfc2822(self.date_updated) if self.date_updated else None,
            "api_version": "2010-04-01",
            "friendly_name": self.name,
            "region": "us1",
            "sid": self.sid,
            "status": self.status,
            "uri": f"{uri}.json",
            "subresource_uris": {
                "participants": f"{uri}/Participants.json",
                "recordings": f"{uri}/Recordings.json",
            },
            "reason_conference_ended": self.reason_ended,
            "call_sid_ending_conference": self.call_sid_ending,
        }


class ConferenceBook:
    """Every conference of a simulator; a name maps to its live room (callers hold the lock)."""

    def __init__(self) -> None:
        self.all: list[Conference] = []

    def live(self, name: str) -> Conference | None:
        """The room called ``name`` that has not ended, if any."""
        return next((c for c in self.all if c.name == name and c.status != "completed"), None)

    def get_or_create(self, name: str, now: datetime) -> Conference:
        """The live room ``name``, created (status ``init``) if there is none."""
        room = self.live(name)
        if room is None:
            room = Conference(name, date_created=now, date_updated=now)
            self.all.append(room)
        return room

    def by_sid(self, sid: str) -> Conference | None:
        """The conference with ConferenceSid ``sid``."""
        return next((c for c in self.all if c.sid == sid), None)

    def named(self, sid_or_name: str) -> Conference | None:
        """By sid, else the live room of that name (what Participants create accepts)."""
        return self.by_sid(sid_or_name) or self.live(sid_or_name)

    def participant_of(self, call_sid: str) -> Participant | None:
        """Where call ``call_sid`` is a participant now, if anywhere."""
        for room in self.all:
            for participant in room.participants:
                if participant.call_sid == call_sid:
                    return participant
        return None

    def __iter__(self) -> Iterator[Conference]:
        return iter(list(self.all))
