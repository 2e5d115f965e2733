"""Twilio's REST API on loopback: calls, queues, queue members and recording deletion."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ivr.simulator.call import CallRun, rfc2822
from ivr.simulator.control import Complete, Redirect
from ivr.simulator.errors import SimulatorError
from ivr.simulator.outbound import STATUS_EVENTS, OutboundCall, describe_call
from ivr.simulator.queues import Member, Queue

if TYPE_CHECKING:
    from ivr.simulator.simulator import Simulator

ACCOUNT = r"^/2010-04-01/Accounts/(?P<account>AC\w+)"
Json = dict[str, object]
Answer = tuple[int, Json | None]


@dataclass(frozen=True)
class ApiRequest:
    """One request the REST API received (repeated form fields joined by spaces)."""

    method: str
    path: str
    form: dict[str, str]
    status: int


def error(status: int, message: str, code: int | None = None) -> Answer:
    """Twilio's JSON error body."""
    code = code or {400: 21200, 404: 20404}.get(status, status)
    return status, {"code": code, "message": message, "more_info": "", "status": status}


def page(key: str, uri: str, items: list[Json]) -> Json:
    """A one-page list in the 2010-04-01 API's shape."""
    return {
        key: items,
        "uri": uri,
        "first_page_uri": uri,
        "next_page_uri": None,
        "previous_page_uri": None,
        "page": 0,
        "page_size": 50,
        "start": 0,
        "end": max(0, len(items) - 1),
    }


def describe_member(member: Member, account_sid: str) -> Json:
    """A queue member as Twilio's REST API shows it."""
    queue = member.queue
    return {
        "call_sid": member.call_sid,
        "queue_sid": queue.sid,
        "date_enqueued": rfc2822(member.date_enqueued),
        "position": queue.position(member),
        "wait_time": member.wait_time(),
        "uri": f"/2010-04-01/Accounts/{account_sid}/Queues/{queue.sid}/Members/{member.call_sid}.json",
    }


class TwilioApi:
    """Routes REST requests to the simulator; every request lands in ``requests``."""

    def __init__(self, simulator: Simulator) -> None:
        self.sim = simulator
        self.requests: list[ApiRequest] = []
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., Answer]]] = [
            ("POST", re.compile(ACCOUNT + r"/Calls\.json$"), self.create_call),
            ("GET", re.compile(ACCOUNT + r"/Calls/(?P<sid>CA\w+)\.json$"), self.fetch_call),
            ("POST", re.compile(ACCOUNT + r"/Calls/(?P<sid>CA\w+)\.json$"), self.update_call),
            ("GET", re.compile(ACCOUNT + r"/Queues\.json$"), self.list_queues),
            ("GET", re.compile(ACCOUNT + r"/Queues/(?P<queue>QU\w+)\.json$"), self.fetch_queue),
            (
                "GET",
                re.compile(ACCOUNT + r"/Queues/(?P<queue>QU\w+)/Members\.json$"),
                self.list_members,
            ),
            (
                "GET",
                re.compile(
                    ACCOUNT + r"/Queues/(?P<queue>QU\w+)/Members/(?P<sid>CA\w+|Front)\.json$"
                ),
                self.fetch_member,
            ),
            (
                "POST",
                re.compile(
                    ACCOUNT + r"/Queues/(?P<queue>QU\w+)/Members/(?P<sid>CA\w+|Front)\.json$"
                ),
                self.dequeue_member,
            ),
            (
                "DELETE",
                re.compile(ACCOUNT + r"/Recordings/(?P<sid>RE\w+)\.json$"),
                self.delete_recording,
            ),
        ]

    def handle(self, method: str, path: str, form: dict[str, str], authorized: bool) -> Answer:
        """Answer one request: 401 without valid auth, 404 for unknown paths or accounts."""
        answer = self._answer(method, path, form, authorized)
        with self.sim.lock:
            self.requests.append(ApiRequest(method, path, dict(form), answer[0]))
        return answer

    def _answer(self, method: str, path: str, form: dict[str, str], authorized: bool) -> Answer:
        """Route a request to its handler."""
        if not authorized:
            return error(401, "Authenticate", 20003)
        for verb, pattern, handler in self.routes:
            match = pattern.match(path)
            if match is None or verb != method:
                continue
            fields = match.groupdict()
            if fields.pop("account") != self.sim.account_sid:
                return error(404, f"The requested resource {path} was not found")
            return handler(form, **fields)
        return error(404, f"The requested resource {path} was not found")

    # -- calls ----------------------------------------------------------------------------------

    def public_url(self, form: dict[str, str], name: str) -> str | None:
        """A URL parameter, checked to be on the app's public base (ValueError otherwise)."""
        url = form.get(name) or None
        if url is not None:
            try:
                self.sim.address.app_path(url)
            except SimulatorError as exc:
                raise ValueError(f"{name}: {exc}") from None
        method = form.get(f"{name[:-3] if name.endswith('Url') else name}Method", "POST")
        if method.upper() != "POST":
            raise ValueError(f"{name}: the simulator only requests URLs with POST")
        return url

    def create_call(self, form: dict[str, str]) -> Answer:
        """``POST Calls.json``: place an outbound-api call."""
        to, from_ = form.get("To", ""), form.get("From", "")
        if not to or not from_:
            return error(400, "To and From are required", 21201)
        if not form.get("Url") and not form.get("Twiml"):
            return error(400, "Either Url or Twiml is required", 21205)
        try:
            url = self.public_url(form, "Url")
            callback = self.public_url(form, "StatusCallback")
            timeout = float(form.get("Timeout") or 30)
        except ValueError as exc:
            return error(400, str(exc))
        events = frozenset(form.get("StatusCallbackEvent", "completed").split()) or {"completed"}
        if not events <= STATUS_EVENTS:
            return error(400, f"unknown StatusCallbackEvent {sorted(events - STATUS_EVENTS)}")
        request = OutboundCall(
            to=to,
            from_=from_,
            url=url,
            twiml=form.get("Twiml") or None,
            status_callback=callback,
            status_events=frozenset(events),
            timeout=timeout,
        )
        try:
            run = self.sim.place_call(request)
        except RuntimeError as exc:
            return error(503, str(exc))
        return 201, describe_call(run) | {"status": "queued"}

    def find_call(self, sid: str) -> CallRun | None:
        """A call leg the simulator knows."""
        with self.sim.lock:
            return self.sim.runs.get(sid)

    def fetch_call(self, form: dict[str, str], sid: str) -> Answer:
        """``GET Calls/{sid}.json``."""
        run = self.find_call(sid)
        if run is None:
            return error(404, f"Call {sid} not found")
        return 200, describe_call(run)

    def update_call(self, form: dict[str, str], sid: str) -> Answer:
        """``POST Calls/{sid}.json``: redirect a live call (Url or Twiml) or end it."""
        run = self.find_call(sid)
        if run is None:
            return error(404, f"Call {sid} not found")
        if form.get("Status") in ("completed", "canceled"):
            run.interrupt(Complete(f"{form['Status']} through the REST API"))
            return 200, describe_call(run)
        try:
            url = self.public_url(form, "Url")
        except ValueError as exc:
            return error(400, str(exc))
        twiml = form.get("Twiml") or None
        if url is None and twiml is None:
            return 200, describe_call(run)
        if not run.interrupt(Redirect(url=url, twiml=twiml)):
            return error(400, f"Call {sid} is not in-progress. Cannot redirect.", 21220)
        return 200, describe_call(run)

    # -- queues ---------------------------------------------------------------------------------

    def find_queue(self, sid: str) -> Queue | None:
        """A queue by sid."""
        with self.sim.lock:
            return self.sim.queues.by_sid(sid)

    def list_queues(self, form: dict[str, str]) -> Answer:
        """``GET Queues.json``."""
        account = self.sim.account_sid
        with self.sim.lock:
            queues = [queue.describe(account) for queue in self.sim.queues]
        return 200, page("queues", f"/2010-04-01/Accounts/{account}/Queues.json", queues)

    def fetch_queue(self, form: dict[str, str], queue: str) -> Answer:
        """``GET Queues/{sid}.json``."""
        found = self.find_queue(queue)
        if found is None:
            return error(404, f"Queue {queue} not found")
        with self.sim.lock:
            return 200, found.describe(self.sim.account_sid)

    def list_members(self, form: dict[str, str], queue: str) -> Answer:
        """``GET Queues/{sid}/Members.json``."""
        found = self.find_queue(queue)
        if found is None:
            return error(404, f"Queue {queue} not found")
        account = self.sim.account_sid
        with self.sim.lock:
            members = [describe_member(member, account) for member in found.members]
        uri = f"/2010-04-01/Accounts/{account}/Queues/{queue}/Members.json"
        return 200, page("queue_members", uri, members)

    def fetch_member(self, form: dict[str, str], queue: str, sid: str) -> Answer:
        """``GET Queues/{sid}/Members/{CallSid|Front}.json``."""
        found = self.find_queue(queue)
        with self.sim.lock:
            member = found.find(sid) if found else None
            if member is None:
                return error(404, f"Member {sid} not found in queue {queue}")
            return 200, describe_member(member, self.sim.account_sid)

    def dequeue_member(self, form: dict[str, str], queue: str, sid: str) -> Answer:
        """``POST Queues/{sid}/Members/{CallSid|Front}.json``: dequeue the member to Url."""
        try:
            url = self.public_url(form, "Url")
        except ValueError as exc:
            return error(400, str(exc))
        if url is None:
            return error(400, "Url is required", 21205)
        found = self.find_queue(queue)
        with self.sim.lock:
            member = found.find(sid) if found else None
            if member is None or found is None:
                return error(404, f"Member {sid} not found in queue {queue}")
            described = describe_member(member, self.sim.account_sid)
            found.remove(member)
            member.run.member = None
            member.run.interrupt(Redirect(url=url, dequeued=True))
        return 200, described

    # -- recordings -----------------------------------------------------------------------------

    def delete_recording(self, form: dict[str, str], sid: str) -> Answer:
        """``DELETE Recordings/{sid}.json``: 204, or 404 for an unknown recording."""
        if not self.sim.recordings.delete(sid):
            return error(404, f"Recording {sid} not found")
        return 204, None
