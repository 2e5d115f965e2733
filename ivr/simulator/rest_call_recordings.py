"""Twilio's Call Recordings REST resource: start, pause, resume, stop, list and fetch."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ivr.simulator.call_recordings import EVENTS, CallRecording
from ivr.simulator.rest import ACCOUNT, Answer, error, page

if TYPE_CHECKING:
    from ivr.simulator.rest import TwilioApi

CALL = ACCOUNT + r"/Calls/(?P<sid>CA\w+)/Recordings"
# Twilio's code for acting on a call that is not in progress.
ERROR_NOT_IN_PROGRESS = 21220
CURRENT = "Twilio.CURRENT"


class CallRecordingApi:
    """The call recording routes, added to a TwilioApi."""

    def __init__(self, api: TwilioApi) -> None:
        self.api = api
        self.sim = api.sim
        self.book = api.sim.call_recordings

    def routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., Answer]]]:
        """(method, path pattern, handler) for every call recording route."""
        one = CALL + r"/(?P<recording>RE\w+|Twilio\.CURRENT)\.json$"
        return [
            ("POST", re.compile(CALL + r"\.json$"), self.create),
            ("GET", re.compile(CALL + r"\.json$"), self.list),
            ("GET", re.compile(one), self.fetch),
            ("POST", re.compile(one), self.update),
        ]

    def create(self, form: dict[str, str], sid: str) -> Answer:
        """``POST Calls/{sid}/Recordings.json``: record the leg from now (21220 if not live)."""
        try:
            callback = self.api.public_url(form, "RecordingStatusCallback")
        except ValueError as exc:
            return error(400, str(exc))
        channels = form.get("RecordingChannels", "mono")
        track = form.get("RecordingTrack", "both")
        events = frozenset(form.get("RecordingStatusCallbackEvent", "completed").split())
        if channels not in ("mono", "dual"):
            return error(400, f"RecordingChannels must be mono or dual, not {channels!r}")
        if track not in ("inbound", "outbound", "both"):
            return error(400, f"RecordingTrack must be inbound, outbound or both, not {track!r}")
        if not events <= EVENTS:
            return error(400, f"unknown RecordingStatusCallbackEvent {sorted(events - EVENTS)}")
        if form.get("Trim", "do-not-trim") not in ("trim-silence", "do-not-trim"):
            return error(400, "Trim must be trim-silence or do-not-trim")
        run = self.api.find_call(sid)
        if run is None:
            return error(404, f"Call {sid} not found")
        with self.sim.lock:
            if run.finished or run.call_status != "in-progress":
                return error(
                    400, f"Call {sid} is not in-progress. Cannot record.", ERROR_NOT_IN_PROGRESS
                )
            recording = self.book.start(
                run,
                channels=2 if channels == "dual" else 1,
                track=track,
                callback=callback,
                events=events or frozenset({"completed"}),
            )
            return 201, recording.describe(self.sim.account_sid)

    def list(self, form: dict[str, str], sid: str) -> Answer:
        """``GET Calls/{sid}/Recordings.json``."""
        account = self.sim.account_sid
        with self.sim.lock:
            items = [r.describe(account) for r in self.book.of_call(sid)]
        uri = f"/2010-04-01/Accounts/{account}/Calls/{sid}/Recordings.json"
        return 200, page("recordings", uri, items)

    def find(self, sid: str, recording: str) -> CallRecording | None:
        """A recording of the call by sid, or Twilio.CURRENT (call under the lock)."""
        if recording == CURRENT:
            return self.book.current(sid)
        return next((r for r in self.book.of_call(sid) if r.sid == recording), None)

    def fetch(self, form: dict[str, str], sid: str, recording: str) -> Answer:
        """``GET Calls/{sid}/Recordings/{RecordingSid}.json``."""
        with self.sim.lock:
            found = self.find(sid, recording)
            if found is None:
                return error(404, f"Recording {recording} not found")
            return 200, found.describe(self.sim.account_sid)

    def update(self, form: dict[str, str], sid: str, recording: str) -> Answer:
        """``POST …/Recordings/{RecordingSid or Twilio.CURRENT}.json``: Status paused|in-progress|stopped."""
        status = form.get("Status", "")
        behavior = form.get("PauseBehavior", "silence")
        if status not in ("paused", "in-progress", "stopped"):
            return error(400, f"Status must be paused, in-progress or stopped, not {status!r}")
        if behavior not in ("skip", "silence"):
            return error(400, f"PauseBehavior must be skip or silence, not {behavior!r}")
        with self.sim.lock:
            found = self.find(sid, recording)
            if found is None:
                return error(404, f"Recording {recording} not found")
            if found.status not in ("in-progress", "paused"):
                return error(400, f"Recording {found.sid} is not in progress or paused", 21220)
            if status == "paused":
                self.book.pause(found, behavior)
            elif status == "in-progress":
                self.book.resume(found)
            elif self.book.stop(found):
                threading.Thread(target=self.book.complete, args=(found,), daemon=True).start()
            described = found.describe(self.sim.account_sid)
        if status == "stopped":
            described["status"] = "stopped"
        return 200, described
