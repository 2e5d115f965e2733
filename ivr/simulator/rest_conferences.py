"""Twilio's Conferences and Participants REST resources on the simulator's loopback API."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import unquote
from xml.sax.saxutils import quoteattr

from ivr.simulator.conference import depart, end_room
from ivr.simulator.conferences import Conference, Participant, wanted_events
from ivr.simulator.control import Document, Failure, Removed
from ivr.simulator.errors import SimulatorError
from ivr.simulator.outbound import STATUS_EVENTS, OutboundCall
from ivr.simulator.rest import ACCOUNT, Answer, error, page

if TYPE_CHECKING:
    from ivr.simulator.call import CallRun
    from ivr.simulator.rest import TwilioApi

ROOM = ACCOUNT + r"/Conferences/(?P<conference>[^/]+?)"
# Twilio's code for coaching a participant who is on hold.
ERROR_COACH_ON_HOLD = 16027
ANNOUNCE_VERBS = frozenset({"Say", "Play", "Pause"})
# Participants create: REST field -> <Conference> attribute of the leg's TwiML.
NOUN_ATTRIBUTES = {
    "Muted": "muted",
    "Beep": "beep",
    "StartConferenceOnEnter": "startConferenceOnEnter",
    "EndConferenceOnExit": "endConferenceOnExit",
    "WaitUrl": "waitUrl",
    "Label": "participantLabel",
    "ConferenceStatusCallback": "statusCallback",
    "ConferenceStatusCallbackEvent": "statusCallbackEvent",
}


def is_true(value: str | None) -> bool:
    """Twilio's booleans: ``true`` is true, anything else false."""
    return (value or "").lower() == "true"


class ConferenceApi:
    """The conference routes, added to a TwilioApi."""

    def __init__(self, api: TwilioApi) -> None:
        self.api = api
        self.sim = api.sim

    def routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., Answer]]]:
        """(method, path pattern, handler) for every conference route."""
        one = ROOM + r"/Participants/(?P<who>[^/]+?)\.json$"
        return [
            ("GET", re.compile(ACCOUNT + r"/Conferences\.json$"), self.list_rooms),
            ("GET", re.compile(ROOM + r"\.json$"), self.fetch_room),
            ("POST", re.compile(ROOM + r"\.json$"), self.update_room),
            ("GET", re.compile(ROOM + r"/Participants\.json$"), self.list_participants),
            ("POST", re.compile(ROOM + r"/Participants\.json$"), self.add_participant),
            ("GET", re.compile(one), self.fetch_participant),
            ("POST", re.compile(one), self.update_participant),
            ("DELETE", re.compile(one), self.kick_participant),
        ]

    @property
    def account(self) -> str:
        """The simulator's AccountSid."""
        return self.sim.account_sid

    def room(self, conference: str) -> Conference | None:
        """A conference by sid (call under the lock)."""
        return self.sim.conferences.by_sid(unquote(conference))

    def list_rooms(self, form: dict[str, str]) -> Answer:
        """``GET Conferences.json``: every conference, or those FriendlyName and Status name."""
        name, status = form.get("FriendlyName"), form.get("Status")
        with self.sim.lock:
            rooms = [
                room.describe(self.account)
                for room in self.sim.conferences
                if (status is None or room.status == status) and (name is None or room.name == name)
            ]
        uri = f"/2010-04-01/Accounts/{self.account}/Conferences.json"
        return 200, page("conferences", uri, rooms)

    def fetch_room(self, form: dict[str, str], conference: str) -> Answer:
        """``GET Conferences/{sid}.json``."""
        with self.sim.lock:
            room = self.room(conference)
            if room is None:
                return error(404, f"Conference {conference} not found")
            return 200, room.describe(self.account)

    def update_room(self, form: dict[str, str], conference: str) -> Answer:
        """``POST Conferences/{sid}.json``: ``Status=completed`` ends the conference."""
        with self.sim.lock:
            room = self.room(conference)
            if room is None:
                return error(404, f"Conference {conference} not found")
            if form.get("Status") == "completed":
                end_room(room, "conference-ended-via-api", None)
            elif form.get("Status"):
                return error(400, f"Status must be completed, not {form['Status']!r}")
            return 200, room.describe(self.account)

    def list_participants(self, form: dict[str, str], conference: str) -> Answer:
        """``GET Conferences/{sid}/Participants.json``: Muted, Hold and Coaching filters."""
        with self.sim.lock:
            room = self.room(conference)
            if room is None:
                return error(404, f"Conference {conference} not found")
            items = [
                p.describe(self.account)
                for p in room.participants
                if all(
                    form.get(key) is None or is_true(form[key]) == value
                    for key, value in (
                        ("Muted", p.muted),
                        ("Hold", p.hold),
                        ("Coaching", p.coaching),
                    )
                )
            ]
        uri = f"/2010-04-01/Accounts/{self.account}/Conferences/{conference}/Participants.json"
        return 200, page("participants", uri, items)

    def add_participant(self, form: dict[str, str], conference: str) -> Answer:
        """``POST Conferences/{sid or name}/Participants.json``: ring ``To`` into the room."""
        to, from_ = form.get("To", ""), form.get("From", "")
        if not to or not from_:
            return error(400, "To and From are required", 21201)
        try:
            callback = self.api.public_url(form, "StatusCallback")
            room_callback = self.api.public_url(form, "ConferenceStatusCallback")
            timeout = float(form.get("Timeout") or 60)  # Participants' default, not Calls' 30
        except ValueError as exc:
            return error(400, str(exc))
        events = frozenset(form.get("StatusCallbackEvent", "completed").split()) or {"completed"}
        if not events <= STATUS_EVENTS:
            return error(400, f"unknown StatusCallbackEvent {sorted(events - STATUS_EVENTS)}")
        if wanted_events(form.get("ConferenceStatusCallbackEvent", "")) is None:
            return error(400, "unknown ConferenceStatusCallbackEvent")
        coach = form.get("CallSidToCoach") or ""
        if is_true(form.get("Coaching")) and not coach:
            return error(400, "CallSidToCoach is required when Coaching is true")
        name = unquote(conference)
        with self.sim.lock:
            room = self.sim.conferences.by_sid(name)
            if room is None and name.startswith("CF") and len(name) == 34:
                return error(404, f"Conference {name} not found")
            room = room or self.sim.conferences.get_or_create(name, datetime.now(UTC))
            if coach:
                refusal = self.coach_refusal(room, coach)
                if refusal is not None:
                    return refusal
        attributes = {
            attribute: form[field]
            for field, attribute in NOUN_ATTRIBUTES.items()
            if form.get(field) is not None
        }
        if room_callback is not None:
            attributes["statusCallback"] = room_callback
        if coach and form.get("Coaching", "true").lower() != "false":
            attributes["coach"] = coach
        noun = " ".join(f"{key}={quoteattr(value)}" for key, value in attributes.items())
        twiml = (
            f"<Response><Dial><Conference {noun}>{escape(room.name)}</Conference></Dial></Response>"
        )
        request = OutboundCall(
            to=to,
            from_=from_,
            twiml=twiml,
            status_callback=callback,
            status_events=events,
            timeout=timeout,
        )
        try:
            run = self.sim.place_call(request)
        except RuntimeError as exc:
            return error(503, str(exc))
        uri = f"/2010-04-01/Accounts/{self.account}/Conferences/{room.sid}"
        return 201, {
            "account_sid": self.account,
            "call_sid": run.result.sid,
            "label": form.get("Label"),
            "call_sid_to_coach": coach or None,
            "coaching": bool(attributes.get("coach")),
            "conference_sid": room.sid,
            "date_created": None,
            "date_updated": None,
            "end_conference_on_exit": is_true(form.get("EndConferenceOnExit")),
            "muted": is_true(form.get("Muted")),
            "hold": False,
            "start_conference_on_enter": form.get("StartConferenceOnEnter", "true") != "false",
            "status": "queued",
            "queue_time": "0",
            "uri": f"{uri}/Participants/{run.result.sid}.json",
        }

    def coach_refusal(self, room: Conference, coach: str) -> Answer | None:
        """Why ``coach`` cannot be coached in ``room`` (absent, or on hold: 16027), if it cannot."""
        target = room.find(coach)
        if target is None:
            return error(400, f"Participant {coach} to coach is not in the conference")
        if target.hold:
            return error(
                400, f"Participant {coach} is on hold and cannot be coached", ERROR_COACH_ON_HOLD
            )
        return None

    def participant(self, conference: str, who: str) -> tuple[Participant | None, Answer | None]:
        """The participant (by CallSid or label) or the 404 (call under the lock)."""
        room = self.room(conference)
        if room is None:
            return None, error(404, f"Conference {conference} not found")
        found = room.find(unquote(who))
        if found is None:
            return None, error(404, f"Participant {unquote(who)} not found in {conference}")
        return found, None

    def fetch_participant(self, form: dict[str, str], conference: str, who: str) -> Answer:
        """``GET …/Participants/{CallSid or label}.json``."""
        with self.sim.lock:
            found, missing = self.participant(conference, who)
            if found is None:
                return missing  # type: ignore[return-value]
            return 200, found.describe(self.account)

    def update_participant(self, form: dict[str, str], conference: str, who: str) -> Answer:
        """``POST …/Participants/{CallSid or label}.json``: hold, mute, coach, announce."""
        try:
            announce = self.api.public_url(form, "AnnounceUrl")
        except ValueError as exc:
            return error(400, str(exc))
        with self.sim.lock:
            found, missing = self.participant(conference, who)
            if found is None:
                return missing  # type: ignore[return-value]
            room = found.conference
            coach = form.get("CallSidToCoach")
            if is_true(form.get("Coaching")) or (coach and form.get("Coaching") != "false"):
                if not coach and not found.call_sid_to_coach:
                    return error(400, "CallSidToCoach is required when Coaching is true")
                refusal = self.coach_refusal(room, coach or found.call_sid_to_coach or "")
                if refusal is not None:
                    return refusal
            changes = self.apply(found, form)
            for name in changes:
                room.event(name, found)
            if changes:
                found.date_updated = found.run.now()
                room.refresh(self.sim.shared_clock.now() if self.sim.shared_clock else 0.0)
            if {"participant-hold", "participant-unhold"} & set(changes):
                room.wake(found)
            described = found.describe(self.account)
        if announce:
            threading.Thread(target=self.announce, args=(found, announce), daemon=True).start()
        return 200, described

    @staticmethod
    def apply(found: Participant, form: dict[str, str]) -> list[str]:
        """Flip the switches the form asks for; the events that makes (under the lock)."""
        changes: list[str] = []
        if form.get("HoldUrl"):
            found.hold_url = form["HoldUrl"]
            found.hold_fetched = form.get("HoldMethod", "GET").upper() == "POST"
            if not found.hold_fetched:
                found.run.result.warnings.append(
                    f"HoldUrl {form['HoldUrl']}: Twilio requests it with GET (HoldMethod's "
                    "default); the simulator only POSTs, so it played the URL as audio"
                )
        if form.get("Hold") is not None and is_true(form["Hold"]) != found.hold:
            found.hold = is_true(form["Hold"])
            changes.append("participant-hold" if found.hold else "participant-unhold")
        if form.get("Muted") is not None and is_true(form["Muted"]) != found.muted:
            found.muted = is_true(form["Muted"])
            changes.append("participant-mute" if found.muted else "participant-unmute")
        coaching = found.coaching
        if form.get("Coaching") == "false":
            found.coaching, found.call_sid_to_coach = False, None
        elif is_true(form.get("Coaching")) or form.get("CallSidToCoach"):
            found.coaching = True
            found.call_sid_to_coach = form.get("CallSidToCoach") or found.call_sid_to_coach
        if found.coaching != coaching or form.get("CallSidToCoach"):
            changes.append("participant-modify")
        if form.get("EndConferenceOnExit") is not None:
            found.end_on_exit = is_true(form["EndConferenceOnExit"])
        return changes

    def announce(self, found: Participant, url: str) -> None:
        """Play AnnounceUrl's TwiML to the participant (Say/Play only), then the event."""
        run: CallRun = found.run
        event = "announcement-end"
        try:
            document = Document(url, run.load(run.send(url, run.params())))
        except (Failure, SimulatorError):
            event = "announcement-fail"
        else:
            for verb in document.verbs:
                if verb.name in ANNOUNCE_VERBS:
                    run.line("twilio", "announcement", f"<{verb.name}> {verb.text}".strip())
        with self.sim.lock:
            found.conference.event(event, found)

    def kick_participant(self, form: dict[str, str], conference: str, who: str) -> Answer:
        """``DELETE …/Participants/{CallSid or label}.json``: out of the room; its Dial goes on."""
        with self.sim.lock:
            found, missing = self.participant(conference, who)
            if found is None:
                return missing  # type: ignore[return-value]
            depart(found, "kicked")
            found.run.interrupt(Removed("kicked through the REST API"))
        return 204, None


def escape(text: str) -> str:
    """XML text content."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
