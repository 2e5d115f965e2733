"""The simulator: Twilio's side of calls, queues, agents and REST API, against one app."""

from __future__ import annotations

import threading
from types import TracebackType

from ivr.simulator.addressing import PublicAddress, SharedKey
from ivr.simulator.agents import DEFAULT_CALLEE, Agent
from ivr.simulator.call import CallRun
from ivr.simulator.call_recordings import CallRecordings
from ivr.simulator.caller import Caller
from ivr.simulator.conferences import ConferenceBook
from ivr.simulator.control import Complete
from ivr.simulator.media import RecordingServer
from ivr.simulator.outbound import OutboundCall, OutboundRun
from ivr.simulator.queues import QueueBook
from ivr.simulator.rest import TwilioApi
from ivr.simulator.rest_call_recordings import CallRecordingApi
from ivr.simulator.rest_conferences import ConferenceApi
from ivr.simulator.result import CallResult
from ivr.simulator.timing import SharedClock
from ivr.simulator.transport import Transport


class CallHandle:
    """A call running in its own thread."""

    def __init__(self, run: CallRun) -> None:
        self.run = run
        self.sid = run.result.sid
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=f"call-{self.sid}", daemon=True)

    def _main(self) -> None:
        """Play the call; keep any error for ``result`` (a thread must not raise)."""
        try:
            self.run.run()
        except BaseException as exc:  # re-raised in the thread that asks for the result
            self._error = exc

    def start(self) -> CallHandle:
        """Start the call's thread."""
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        """True once the call has ended."""
        return self._thread.ident is not None and not self._thread.is_alive()

    def result(self, timeout: float | None = 60.0) -> CallResult:
        """Wait (up to ``timeout`` real seconds) for the call to end; its result."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"call {self.sid} still running after {timeout} s")
        if self._error is not None:
            raise self._error
        return self.run.result


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
        time_scale: float | None = None,
        api_keys: dict[str, str] | None = None,
        default_callee: Agent | None = DEFAULT_CALLEE,
        queue_wait_limit: float = 3600.0,
        callback_retries: int = 0,
        callback_retry_delay: float = 1.0,
        connection_retries: int = 1,
        room_events_late: float = 0.0,
        shared_key: SharedKey | None = None,
    ) -> None:
        self.transport = transport
        self.address = PublicAddress(public_base_url, auth_token, shared_key)
        self.auth_token = auth_token
        self.account_sid = account_sid
        self.incoming_path = incoming_path
        self.status_callback_path = status_callback_path
        self.fallback_path = fallback_path
        self.replay = replay
        self.max_requests = max_requests
        self.status_callback_first = status_callback_first
        self.play_seconds = play_seconds
        self.shared_clock = SharedClock(time_scale) if time_scale is not None else None
        self.api_keys = dict(api_keys or {})
        self.default_callee = default_callee
        self.queue_wait_limit = queue_wait_limit
        # Twilio retries a callback that failed (connection overrides "#rc=…&rp=all"), later.
        self.callback_retries = callback_retries
        self.callback_retry_delay = callback_retry_delay
        # Twilio tries a request whose connection failed once more by default (rc=1).
        self.connection_retries = connection_retries
        # Twilio posts a conference's status callbacks on their own, unordered with the legs'
        # webhooks: real seconds each waits, to have them come after the legs' own.
        self.room_events_late = room_events_late
        # One lock guards queues, calls and every call's interruptions.
        self.lock = threading.RLock()
        self.queues = QueueBook()
        self.conferences = ConferenceBook()
        self.agents: dict[str, Agent] = {}
        self.runs: dict[str, CallRun] = {}
        self.handles: list[CallHandle] = []
        self.outbound_results: list[CallResult] = []
        self.api = TwilioApi(self)
        self.api.routes += ConferenceApi(self.api).routes()
        self.call_recordings = CallRecordings(self)
        self.api.routes += CallRecordingApi(self.api).routes()
        self._closed = False
        self._recordings = recording_server
        self._owns_recordings = recording_server is None
        if recording_server is not None:
            recording_server.attach(self.api, self.api_keys)

    @property
    def time_scale(self) -> float | None:
        """Real seconds per simulated second, or None for instant calls."""
        return self.shared_clock.time_scale if self.shared_clock else None

    @property
    def recordings(self) -> RecordingServer:
        """The media server recordings go to, also serving the REST API (started on first use)."""
        if self._recordings is None:
            self._recordings = RecordingServer(self.account_sid, self.auth_token)
            self._recordings.attach(self.api, self.api_keys)
        return self._recordings

    @property
    def api_base_url(self) -> str:
        """Base URL of the loopback Twilio API (REST and recordings): TWILIO_API_BASE_URL."""
        return self.recordings.base_url

    def add_agent(self, agent: Agent) -> Agent:
        """Make ``agent`` reachable by outbound calls and <Dial> at ``agent.number``."""
        with self.lock:
            self.agents[agent.number] = agent
        return agent

    def callee(self, number: str) -> Agent | None:
        """Who answers ``number``: its agent, else the default callee (None: nobody)."""
        with self.lock:
            return self.agents.get(number, self.default_callee)

    def call(self, caller: Caller) -> CallResult:
        """Place one inbound call from ``caller`` and play it to the end."""
        return CallRun(self, caller).run()

    def start(self, caller: Caller) -> CallHandle:
        """Place an inbound call from ``caller`` in its own thread."""
        return self.launch(CallRun(self, caller))

    def launch(self, run: CallRun) -> CallHandle:
        """Run a prepared call leg in its own thread."""
        handle = CallHandle(run)
        with self.lock:
            if self._closed:
                raise RuntimeError("the simulator is closed")
            self.handles.append(handle)
        return handle.start()

    def place_call(self, request: OutboundCall) -> OutboundRun:
        """Start an outbound-api call (what ``POST …/Calls.json`` does); its leg."""
        run = OutboundRun(self, request)
        with self.lock:
            self.outbound_results.append(run.result)
        self.launch(run)
        return run

    def handle(self, call_sid: str) -> CallHandle | None:
        """The thread handle of call ``call_sid`` (started or placed through the REST API)."""
        with self.lock:
            return next((h for h in self.handles if h.sid == call_sid), None)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until every call has ended and rooms sent their callbacks (TimeoutError if not)."""
        with self.lock:
            handles = list(self.handles)
        for handle in handles:
            handle.result(timeout)
        with self.lock:
            more = [h for h in self.handles if h not in handles]
        if more:
            self.wait_idle(timeout)
            return
        # Conference callbacks go out from their own thread, which ends after conference-end.
        with self.lock:
            senders = [room.sender for room in self.conferences if room.sender is not None]
        for sender in senders:
            sender.join(timeout)

    def queue_sids(self, name: str) -> list[str]:
        """CallSids waiting in queue ``name``, front first."""
        with self.lock:
            queue = self.queues.get(name)
            return [] if queue is None else [member.call_sid for member in queue.members]

    def close(self) -> None:
        """Hang up live calls; close the transport, and the media server if this one started it."""
        with self.lock:
            self._closed = True
            runs = list(self.runs.values())
            handles = list(self.handles)
        for run in runs:
            run.interrupt(Complete("the simulator closed"))
        for handle in handles:
            handle._thread.join(timeout=10)
        close_transport = getattr(self.transport, "close", None)
        if close_transport is not None:
            close_transport()
        if self._recordings is not None:
            self._recordings.detach(self.api)
            if self._owns_recordings:
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
