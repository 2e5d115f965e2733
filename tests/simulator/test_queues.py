"""Queues and agents over real loopback HTTP: callers wait, agents take them, REST steers calls."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from flask import Flask, Response, request
from werkzeug.serving import make_server

from ivr.simulator import (
    Agent,
    Caller,
    CallResult,
    HttpTransport,
    Press,
    Simulator,
    Wait,
    parse_script,
)
from tests.simulator.conftest import ACCOUNT, TOKEN, twiml

PUBLIC = "https://hotline.example.com"
AGENT = "+8613900000001"
# Simulated seconds per real second: fast, yet far above HTTP round trips on a busy machine.
SCALE = 0.02
API_KEY, API_SECRET = "SK" + "2" * 32, "key-secret"


@dataclass
class QueueApp:
    """A throwaway hotline: enqueue, announce position, 1 leaves, agents dial the queue."""

    max_queue_size: int = 100
    takes: int = 1
    api_base: str = ""
    url: str = ""
    received: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def forms(self, path: str) -> list[dict[str, str]]:
        """Forms received at ``path``, in order."""
        with self.lock:
            return [form for seen, form in self.received if seen == path]

    def agent_twiml(self) -> str:
        """What an agent leg runs: a greeting, then the head of the support queue."""
        return twiml(
            "<Say>Next caller</Say>",
            f'<Dial action="{PUBLIC}/agent/next" timeout="5">'
            f'<Queue url="{PUBLIC}/queue/connect">support</Queue></Dial>',
        )

    def flask(self) -> Flask:
        """The Flask app."""
        app = Flask("queue-toy")

        @app.post("/<path:path>")
        def webhook(path: str) -> Response | tuple[str, int]:
            form = request.form.to_dict()
            with self.lock:
                self.received.append((request.path, form))
            page = self.page(request.path, form)
            if page is None:
                return "", 204
            return Response(page, 200, content_type="text/xml")

        @app.get("/ops/call-agent")
        def call_agent() -> Response:
            # What the real app does from its dashboard: the REST API, with basic auth.
            fields = {
                "To": request.args.get("to", AGENT),
                "From": "+864000000000",
                "StatusCallback": f"{PUBLIC}/agent/status",
                "StatusCallbackEvent": "initiated ringing answered completed",
                "Timeout": request.args.get("timeout", "30"),
            }
            if request.args.get("dial"):
                fields["Twiml"] = twiml(
                    f'<Dial action="{PUBLIC}/agent/next">'
                    f'<Number url="{PUBLIC}/whisper">{request.args["dial"]}</Number></Dial>'
                )
            else:
                fields["Twiml"] = self.agent_twiml()
            reply = requests.post(
                f"{self.api_base}/2010-04-01/Accounts/{ACCOUNT}/Calls.json",
                data=fields,
                auth=(API_KEY, API_SECRET),
                timeout=10,
            )
            return Response(reply.content, reply.status_code, content_type="application/json")

        return app

    def page(self, path: str, form: dict[str, str]) -> str | None:
        """TwiML for ``path``."""
        if path == "/voice/incoming":
            return twiml(
                "<Say>Please hold</Say>",
                f'<Enqueue waitUrl="/queue/wait" action="/queue/done" '
                f'maxQueueSize="{self.max_queue_size}">support</Enqueue>',
            )
        if path == "/queue/wait":
            return twiml(
                '<Gather numDigits="1" action="/queue/key" timeout="3">'
                f"<Say>You are number {form['QueuePosition']} in line</Say></Gather>",
                '<Pause length="4"/>',
            )
        if path == "/queue/key":
            if form.get("Digits") == "1":
                return twiml("<Say>Goodbye</Say><Leave/>")
            return twiml("<Say>Please keep holding</Say>")
        if path == "/queue/connect":
            return twiml("<Say>Connecting you to an agent</Say>")
        if path == "/queue/done":
            if form["QueueResult"] == "bridged":
                return twiml(
                    '<Gather numDigits="1" action="/rate"><Say>Please rate us</Say></Gather>'
                )
            return twiml("<Hangup/>")
        if path == "/rate":
            return twiml("<Say>Thanks</Say>")
        if path == "/voicemail":
            return twiml("<Say>Leave a message</Say>")
        if path == "/whisper":
            return twiml("<Say>Calling back a customer</Say>")
        if path == "/agent/next":
            done = [f for f in self.forms("/agent/next") if f["DialCallStatus"] == "completed"]
            if form.get("DialCallStatus") == "completed" and len(done) < self.takes:
                return self.agent_twiml()
            return twiml("<Hangup/>")
        return None


Build = Callable[..., tuple[QueueApp, Simulator]]


@pytest.fixture
def hotline() -> Iterator[Build]:
    """Serve QueueApps on loopback with a simulator each (REST API on its media server)."""
    stops: list[Callable[[], None]] = []

    def build(time_scale: float | None = SCALE, **options: Any) -> tuple[QueueApp, Simulator]:
        toy = QueueApp(**options)
        server = make_server("127.0.0.1", 0, toy.flask(), threaded=True)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        toy.url = f"http://127.0.0.1:{server.server_port}"
        sim = Simulator(
            HttpTransport(toy.url),
            public_base_url=PUBLIC,
            auth_token=TOKEN,
            account_sid=ACCOUNT,
            time_scale=time_scale,
            api_keys={API_KEY: API_SECRET},
        )
        toy.api_base = sim.api_base_url

        def stop() -> None:
            sim.close()
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        stops.append(stop)
        return toy, sim

    yield build
    for stop in stops:
        stop()


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``condition`` until it holds (AssertionError after ``timeout`` real seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def call_agent(toy: QueueApp, **query: str) -> dict[str, Any]:
    """Have the app place an agent call through the REST API; the created call's JSON."""
    reply = requests.get(f"{toy.url}/ops/call-agent", params=query, timeout=10)
    assert reply.status_code == 201, reply.text
    return reply.json()


def positions(result: CallResult) -> list[int]:
    """Queue positions the waitUrl was told, in order."""
    return [
        int(re.match(r"position (\d+)", line.text)[1])  # type: ignore[index]
        for line in result.transcript
        if line.kind == "queue"
    ]


def test_three_callers_are_taken_one_by_one_by_one_agent(hotline: Build) -> None:
    toy, sim = hotline(takes=3)
    sim.add_agent(Agent(AGENT, answer_after=1.0, talk_seconds=20.0))
    handles = []
    for n in range(3):
        handles.append(sim.start(Caller(number=f"+861380000000{n}")))
        wait_until(lambda n=n: len(sim.queue_sids("support")) == n + 1)

    created = call_agent(toy)
    results = [handle.result(timeout=60) for handle in handles]
    agent = sim.handle(created["sid"]).result(timeout=60)  # type: ignore[union-attr]

    assert created["status"] == "queued" and created["direction"] == "outbound-api"
    assert [r.queue_result for r in results] == ["bridged"] * 3
    assert [r.bridged_to for r in results] == [AGENT] * 3
    assert positions(results[2])[0] == 3
    assert positions(results[2]) == sorted(positions(results[2]), reverse=True)
    assert {1, 2, 3} <= set(positions(results[2]))
    assert "You are number 3 in line" in results[2].said()
    for result in results:
        said = result.said()
        assert said.index("Connecting you to an agent") < said.index("Please rate us")
        assert result.errors == []
    done = toy.forms("/queue/done")
    assert [f["CallSid"] for f in done] == [r.sid for r in results]
    assert [f["QueueResult"] for f in done] == ["bridged"] * 3
    waits = [int(f["QueueTime"]) for f in done]
    assert waits == sorted(waits) and waits[2] >= 40
    taken = [f["DialCallSid"] for f in toy.forms("/agent/next")]
    assert taken == [r.sid for r in results]
    assert all(f["DialCallDuration"] == "20" for f in toy.forms("/agent/next"))
    connect = toy.forms("/queue/connect")
    assert {f["DequeingCallSid"] for f in connect} == {agent.sid}
    assert agent.said()[0] == "Next caller" and agent.errors == []
    assert [f["CallStatus"] for f in toy.forms("/agent/status")] == [
        "queued",
        "ringing",
        "in-progress",
        "completed",
    ]


def test_a_caller_who_gives_up_is_reported_as_hangup(hotline: Build) -> None:
    toy, sim = hotline(time_scale=None)
    result = sim.call(Caller(script=parse_script("wait:15")))

    done = toy.forms("/queue/done")[-1]
    assert (done["QueueResult"], result.queue_result) == ("hangup", "hangup")
    assert 15 <= int(done["QueueTime"]) <= 16
    assert toy.forms("/voice/status")[-1]["CallStatus"] == "completed"
    assert "Please rate us" not in result.said()
    assert result.transcript[-1].kind == "hangup"


def test_pressing_1_leaves_the_queue(hotline: Build) -> None:
    toy, sim = hotline(time_scale=None)
    result = sim.call(Caller(script=[Press("1")]))

    assert toy.forms("/queue/done")[-1]["QueueResult"] == "leave"
    assert result.queue_result == "leave"
    assert result.said() == ["Please hold", "You are number 1 in line", "Goodbye"]
    assert [line.kind for line in result.transcript if line.kind in ("enqueue", "leave")] == [
        "enqueue",
        "leave",
    ]


def test_a_full_queue_sends_the_caller_to_the_action_at_once(hotline: Build) -> None:
    toy, sim = hotline(max_queue_size=1)
    first = sim.start(Caller(script=[Wait(20)]))
    wait_until(lambda: len(sim.queue_sids("support")) == 1)
    second = sim.call(Caller(number="+8613800000009"))

    assert second.queue_result == "queue-full"
    full = [f for f in toy.forms("/queue/done") if f["CallSid"] == second.sid]
    assert full[0]["QueueResult"] == "queue-full"
    assert "You are number 1 in line" not in second.said()
    assert first.result(timeout=30).queue_result == "hangup"


def test_two_agents_dequeuing_at_once_never_share_a_caller(hotline: Build) -> None:
    toy, sim = hotline()
    agents = [f"+86139000000{n:02d}" for n in range(3)]
    for number in agents:
        sim.add_agent(Agent(number, answer_after=0.5, talk_seconds=5.0))
    callers = [sim.start(Caller(number=f"+861380000001{n}")) for n in range(2)]
    wait_until(lambda: len(sim.queue_sids("support")) == 2)

    starters = [threading.Thread(target=call_agent, args=(toy,), kwargs={"to": n}) for n in agents]
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join(timeout=20)
    results = [handle.result(timeout=60) for handle in callers]
    sim.wait_idle(timeout=60)

    statuses = sorted(f["DialCallStatus"] for f in toy.forms("/agent/next"))
    assert statuses == ["completed", "completed", "no-answer"]
    taken = [f["DialCallSid"] for f in toy.forms("/agent/next") if "DialCallSid" in f]
    assert sorted(taken) == sorted(r.sid for r in results)
    assert len({r.bridged_to for r in results}) == 2


def test_rest_api_lists_queue_members_and_redirects_one(hotline: Build) -> None:
    toy, sim = hotline()
    handle = sim.start(Caller())
    wait_until(lambda: len(sim.queue_sids("support")) == 1)
    base = f"{sim.api_base_url}/2010-04-01/Accounts/{ACCOUNT}"
    auth = (ACCOUNT, TOKEN)

    queues = requests.get(f"{base}/Queues.json", auth=auth, timeout=10).json()["queues"]
    assert [(q["friendly_name"], q["current_size"], q["max_size"]) for q in queues] == [
        ("support", 1, 100)
    ]
    assert re.fullmatch(r"QU[0-9a-f]{32}", queues[0]["sid"])
    members_url = f"{base}/Queues/{queues[0]['sid']}/Members"
    members = requests.get(f"{members_url}.json", auth=auth, timeout=10).json()["queue_members"]
    assert [(m["call_sid"], m["position"]) for m in members] == [(handle.sid, 1)]
    reply = requests.post(
        f"{members_url}/Front.json", data={"Url": f"{PUBLIC}/voicemail"}, auth=auth, timeout=10
    )
    result = handle.result(timeout=30)

    assert reply.status_code == 200 and reply.json()["call_sid"] == handle.sid
    assert toy.forms("/queue/done")[-1]["QueueResult"] == "redirected"
    assert result.said()[-1] == "Leave a message"
    assert sim.queue_sids("support") == []
    assert [(r.method, r.status) for r in sim.api.requests] == [
        ("GET", 200),
        ("GET", 200),
        ("POST", 200),
    ]


def test_calls_update_takes_a_waiting_caller_out_through_the_action(hotline: Build) -> None:
    toy, sim = hotline()
    handle = sim.start(Caller())
    wait_until(lambda: len(sim.queue_sids("support")) == 1)
    reply = requests.post(
        f"{sim.api_base_url}/2010-04-01/Accounts/{ACCOUNT}/Calls/{handle.sid}.json",
        data={"Twiml": twiml("<Say>Moved</Say>")},
        auth=(ACCOUNT, TOKEN),
        timeout=10,
    )
    result = handle.result(timeout=30)

    assert reply.status_code == 200
    assert result.said()[-1] == "Moved"
    # Twilio asks the Enqueue action at once, ignores its TwiML and runs the update's instead.
    assert [f["QueueResult"] for f in toy.forms("/queue/done")] == ["redirected"]
    assert "Please rate us" not in result.said() and sim.queue_sids("support") == []
    missing = requests.post(
        f"{sim.api_base_url}/2010-04-01/Accounts/{ACCOUNT}/Calls/CA{'0' * 32}.json",
        data={"Status": "completed"},
        auth=(ACCOUNT, TOKEN),
        timeout=10,
    )
    assert missing.status_code == 404


def test_callback_dials_a_customer_answered_by_the_default_callee(hotline: Build) -> None:
    toy, sim = hotline()
    sim.add_agent(Agent(AGENT, answer_after=1.0))
    created = call_agent(toy, dial="+8613800138999")
    agent = sim.handle(created["sid"]).result(timeout=30)  # type: ignore[union-attr]

    dialled = toy.forms("/agent/next")[-1]
    assert (dialled["DialCallStatus"], dialled["DialCallDuration"]) == ("completed", "10")
    customer = next(r for r in sim.outbound_results if r.sid == dialled["DialCallSid"])
    assert (customer.direction, customer.to) == ("outbound-dial", "+8613800138999")
    assert customer.said() == ["Calling back a customer"]
    assert toy.forms("/whisper")[0]["ParentCallSid"] == agent.sid
    assert agent.errors == []


def test_an_agent_who_does_not_answer_ends_no_answer(hotline: Build) -> None:
    toy, sim = hotline()
    sim.add_agent(Agent(AGENT, answers=False))
    created = call_agent(toy, timeout="5")
    agent = sim.handle(created["sid"]).result(timeout=30)  # type: ignore[union-attr]

    statuses = [f["CallStatus"] for f in toy.forms("/agent/status")]
    assert statuses == ["queued", "ringing", "no-answer"]
    assert toy.forms("/agent/status")[-1]["CallDuration"] == "0"
    assert agent.status == "no-answer" and agent.said() == []


def test_rest_api_wants_basic_auth_and_only_loopback_is_contacted(
    hotline: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    contacted: list[str] = []
    connect = socket.socket.connect

    def spy(self: socket.socket, address: Any) -> Any:
        contacted.append(address[0] if isinstance(address, tuple) else str(address))
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    _, sim = hotline()
    calls = f"{sim.api_base_url}/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
    form = {"To": AGENT, "From": "+864000000000", "Url": "https://evil.example.net/twiml"}

    anonymous = requests.post(calls, data=form, timeout=10)
    wrong = requests.post(calls, data=form, auth=(ACCOUNT, "wrong"), timeout=10)
    elsewhere = requests.post(calls, data=form, auth=(API_KEY, API_SECRET), timeout=10)

    assert (anonymous.status_code, wrong.status_code) == (401, 401)
    assert anonymous.json()["code"] == 20003
    assert elsewhere.status_code == 400 and "evil.example.net" in elsewhere.json()["message"]
    assert sim.outbound_results == []
    assert [r.status for r in sim.api.requests] == [401, 401, 400]
    assert contacted and set(contacted) <= {"127.0.0.1"}
