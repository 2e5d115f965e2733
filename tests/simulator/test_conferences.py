"""Conferences over real loopback HTTP: rooms, hold, mute, coaching, REST participants, callbacks."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from ivr.simulator import Agent, Caller, Hold, Simulator, Wait
from ivr.simulator.conferences import Conference
from tests.simulator.conftest import ACCOUNT, PUBLIC, TOKEN, ToyApp, twiml

Build = Callable[..., Simulator]
SCALE = 0.02
AGENT, SUPERVISOR = "+8613900000001", "+8613900000002"
ROOM_TWIML = twiml(
    '<Dial action="/after"><Conference statusCallback="/conf/events" '
    'statusCallbackEvent="start end join leave mute hold modify announcement">{}</Conference></Dial>'
)


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``condition`` until it holds (AssertionError after ``timeout`` real seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def rest(sim: Simulator, method: str, path: str, **form: str) -> requests.Response:
    """A request to the simulator's REST API as the app makes it."""
    url = f"{sim.api_base_url}/2010-04-01/Accounts/{ACCOUNT}/{path}"
    where = {"params": form} if method == "GET" else {"data": form}
    return requests.request(method, url, **where, auth=(ACCOUNT, TOKEN), timeout=10)


def room(sim: Simulator, name: str) -> Conference:
    """The conference called ``name`` (the latest one)."""
    return [c for c in sim.conferences if c.name == name][-1]


def present(sim: Simulator, name: str) -> int:
    """How many are in the live room ``name`` now."""
    with sim.lock:
        live = sim.conferences.live(name)
        return 0 if live is None else len(live.participants)


def events(toy: ToyApp) -> list[tuple[str, str]]:
    """(StatusCallbackEvent, SequenceNumber) of the conference callbacks received."""
    return [
        (r.form["StatusCallbackEvent"], r.form["SequenceNumber"])
        for r in toy.received
        if r.path == "/conf/events"
    ]


def hearing(sim: Simulator, name: str, listener: str) -> list[tuple[tuple[str, ...], str | None]]:
    """What ``listener`` heard in room ``name``, change by change."""
    return [(h.voices, h.music) for h in room(sim, name).heard if h.listener == listener]


@pytest.fixture
def app(toy: ToyApp) -> ToyApp:
    """A toy app: callers go to room ``sales``, music and hold TwiML, an action saying goodbye."""
    toy.pages.update(
        {
            "/voice/incoming": ROOM_TWIML.format("sales"),
            "/after": twiml("<Say>Goodbye</Say>"),
            "/hold": twiml("<Say>Please hold</Say>"),
            "/join": ROOM_TWIML.format("sales"),
            "/conf/events": (204, "", "text/plain"),
            "/agent/status": (204, "", "text/plain"),
            "/queue/done": twiml("<Say>Ignored</Say>"),
        }
    )
    return toy


def test_two_callers_hear_each_other_and_callbacks_come_in_order(
    app: ToyApp, simulator: Build
) -> None:
    sim = simulator(app, time_scale=SCALE)
    first = sim.start(Caller(number="+8613800000001", script=[Wait(30)]))
    wait_until(lambda: present(sim, "sales") == 1)
    second = sim.start(Caller(number="+8613800000002", script=[Wait(10)]))
    one, two = first.result(), second.result()
    sim.wait_idle()

    assert events(app) == [
        ("participant-join", "1"),
        ("participant-join", "2"),
        ("conference-start", "3"),
        ("participant-leave", "4"),
        ("participant-leave", "5"),
        ("conference-end", "6"),
    ]
    start = app.form("/conf/events")
    sales = room(sim, "sales")
    assert (start["ConferenceSid"], start["FriendlyName"]) == (sales.sid, "sales")
    assert start["ReasonConferenceEnded"] == "last-participant-left"
    joined = next(r.form for r in app.received if r.path == "/conf/events")
    assert (joined["CallSid"], joined["Muted"], joined["Hold"]) == (one.sid, "false", "false")
    assert joined["Coaching"] == "false" and joined["AccountSid"] == ACCOUNT
    # Music while alone, then each other, then nobody once the other left.
    assert hearing(sim, "sales", "+8613800000001") == [
        ((), "http://twimlets.com/holdmusic?Bucket=com.twilio.music.classical"),
        (("+8613800000002",), None),
        ((), None),
    ]
    assert hearing(sim, "sales", "+8613800000002")[0] == (("+8613800000001",), None)
    assert any(line.kind == "play" for line in one.transcript)
    assert one.errors == two.errors == []
    assert sales.status == "completed"
    # Signed like every callback: the toy app answers 403 to a bad X-Twilio-Signature.
    posted = [r.status for r in one.requests + two.requests if r.path == "/conf/events"]
    assert posted == [204] * 6


def test_hold_mute_coach_and_16027_then_the_room_ends_by_rest(
    app: ToyApp, simulator: Build
) -> None:
    sim = simulator(app, time_scale=SCALE)
    sim.add_agent(Agent(AGENT, answer_after=1, talk_seconds=600))
    sim.add_agent(Agent(SUPERVISOR, answer_after=1, talk_seconds=600))
    caller = sim.start(Caller(number="+8613800000001", script=[Hold()]))
    wait_until(lambda: present(sim, "sales") == 1)
    sid = room(sim, "sales").sid
    added = rest(sim, "POST", "Conferences/sales/Participants.json", From="+864000000000", To=AGENT)
    assert added.status_code == 201 and added.json()["conference_sid"] == sid
    agent_sid = added.json()["call_sid"]
    wait_until(lambda: present(sim, "sales") == 2)
    coach = rest(
        sim,
        "POST",
        f"Conferences/{sid}/Participants.json",
        From="+864000000000",
        To=SUPERVISOR,
        Coaching="true",
        CallSidToCoach=agent_sid,
        Label="supervisor",
    )
    assert coach.status_code == 201
    wait_until(lambda: present(sim, "sales") == 3)
    # The coach is heard by the agent only.
    assert hearing(sim, "sales", AGENT)[-1][0] == ("+8613800000001", "supervisor")
    assert hearing(sim, "sales", "+8613800000001")[-1][0] == (AGENT,)

    muted = rest(sim, "POST", f"Conferences/{sid}/Participants/{caller.sid}.json", Muted="true")
    assert muted.json()["muted"] is True
    assert hearing(sim, "sales", AGENT)[-1][0] == ("supervisor",)
    held = rest(
        sim,
        "POST",
        f"Conferences/{sid}/Participants/{caller.sid}.json",
        Hold="true",
        HoldUrl=f"{PUBLIC}/hold",
        HoldMethod="POST",
    )
    assert held.json()["hold"] is True
    wait_until(lambda: "/hold" in app.paths())
    refused = rest(
        sim, "POST", f"Conferences/{sid}/Participants/supervisor.json", CallSidToCoach=caller.sid
    )
    assert (refused.status_code, refused.json()["code"]) == (400, 16027)
    listed = rest(sim, "GET", f"Conferences/{sid}/Participants.json", Hold="true").json()
    assert [p["call_sid"] for p in listed["participants"]] == [caller.sid]
    rooms = rest(sim, "GET", "Conferences.json", FriendlyName="sales").json()["conferences"]
    assert [(c["sid"], c["status"]) for c in rooms] == [(sid, "in-progress")]

    ended = rest(sim, "POST", f"Conferences/{sid}.json", Status="completed")
    result = caller.result()
    sim.wait_idle()
    wait_until(lambda: any(e == "conference-end" for e, _ in events(app)))

    assert ended.json()["status"] == "completed"
    assert ended.json()["reason_conference_ended"] == "conference-ended-via-api"
    assert "Please hold" in result.said() and result.said()[-1] == "Goodbye"
    assert app.form("/after")["DialCallStatus"] == "answered"
    assert hearing(sim, "sales", "+8613800000001")[-1] == ((), f"{PUBLIC}/hold")
    names = [e for e, _ in events(app)]
    assert names.index("participant-mute") < names.index("participant-hold")
    numbers = [int(n) for _, n in events(app)]
    assert numbers == list(range(1, len(numbers) + 1))


@pytest.mark.parametrize(
    ("agent", "statuses"),
    [
        (
            Agent(AGENT, answer_after=1, talk_seconds=3),
            ["queued", "ringing", "in-progress", "completed"],
        ),
        (Agent(AGENT, answers=False), ["queued", "ringing", "no-answer"]),
        (Agent(AGENT, busy=True), ["queued", "busy"]),
        # Someone who rejects the call: Twilio has no "declined" status and reports busy.
        (Agent(AGENT, declines=True, answer_after=2), ["queued", "ringing", "busy"]),
    ],
    ids=["answers", "no-answer", "busy", "declines"],
)
def test_a_phone_rung_into_the_room_joins_only_if_it_answers(
    app: ToyApp, simulator: Build, agent: Agent, statuses: list[str]
) -> None:
    sim = simulator(app, time_scale=SCALE)
    sim.add_agent(agent)
    caller = sim.start(Caller(script=[Wait(20)]))
    wait_until(lambda: present(sim, "sales") == 1)
    added = rest(
        sim,
        "POST",
        "Conferences/sales/Participants.json",
        From="+864000000000",
        To=AGENT,
        Timeout="5",
        StatusCallback=f"{PUBLIC}/agent/status",
        StatusCallbackEvent="initiated ringing answered completed",
        Label="agent",
    )
    assert added.status_code == 201 and added.json()["status"] == "queued"
    handle = sim.handle(added.json()["call_sid"])
    assert handle is not None and handle.result().status == statuses[-1]
    caller.result()

    assert [r.form["CallStatus"] for r in app.received if r.path == "/agent/status"] == statuses
    joined = [p.name for p in room(sim, "sales").everyone]
    answered = statuses[-1] == "completed"
    assert joined == ([caller.run.party, "agent"] if answered else [caller.run.party])


def test_the_room_ends_when_an_end_on_exit_participant_leaves(
    app: ToyApp, simulator: Build
) -> None:
    sim = simulator(app, time_scale=SCALE)
    sim.add_agent(Agent(AGENT, answer_after=1, talk_seconds=5))
    caller = sim.start(Caller(script=[Hold()]))
    wait_until(lambda: present(sim, "sales") == 1)
    rest(
        sim,
        "POST",
        "Conferences/sales/Participants.json",
        From="+864000000000",
        To=AGENT,
        EndConferenceOnExit="true",
    )
    result = caller.result()

    sales = room(sim, "sales")
    assert sales.reason_ended == "participant-with-end-conference-on-exit-left"
    assert result.said() == ["Goodbye"] and result.errors == []


def test_kicked_participant_goes_on_to_the_dial_action(app: ToyApp, simulator: Build) -> None:
    sim = simulator(app, time_scale=SCALE)
    caller = sim.start(Caller(script=[Hold()]))
    wait_until(lambda: present(sim, "sales") == 1)
    sid = room(sim, "sales").sid
    kicked = rest(sim, "DELETE", f"Conferences/{sid}/Participants/{caller.sid}.json")
    result = caller.result()

    assert kicked.status_code == 204
    assert result.said() == ["Goodbye"]
    assert room(sim, "sales").reason_ended == "last-participant-kicked"
    assert rest(sim, "GET", f"Conferences/{sid}.json").json()["status"] == "completed"
    live = rest(sim, "GET", "Conferences.json", Status="in-progress").json()["conferences"]
    everything = rest(sim, "GET", "Conferences.json").json()["conferences"]
    assert live == [] and [c["sid"] for c in everything] == [sid]


def test_a_caller_redirected_out_of_a_queue_can_join_a_room(app: ToyApp, simulator: Build) -> None:
    app.pages["/voice/incoming"] = twiml('<Enqueue action="/queue/done">support</Enqueue>')
    sim = simulator(app, time_scale=SCALE)
    caller = sim.start(Caller(script=[Hold(), Wait(5)]))
    wait_until(lambda: sim.queue_sids("support") == [caller.sid])
    moved = rest(sim, "POST", f"Calls/{caller.sid}.json", Url=f"{PUBLIC}/join")
    result = caller.result()

    assert moved.status_code == 200
    paths = app.paths()
    assert paths.index("/queue/done") < paths.index("/join")
    assert app.form("/queue/done")["QueueResult"] == "redirected"
    assert "Ignored" not in result.said()
    assert [p.call_sid for p in room(sim, "sales").everyone] == [caller.sid]


def test_conferences_need_a_time_scale(app: ToyApp, simulator: Build) -> None:
    result = simulator(app).call(Caller())

    assert "time_scale" in result.errors[0]


def test_wait_music_silence_and_a_muted_participant(app: ToyApp, simulator: Build) -> None:
    rooms = {
        "+8613800000001": '<Conference startConferenceOnEnter="false" waitUrl="">lobby</Conference>',
        "+8613800000002": '<Conference startConferenceOnEnter="false" waitUrl="/music" '
        'beep="false">lobby</Conference>',
        "+8613800000003": '<Conference muted="true">lobby</Conference>',
    }
    app.pages["/voice/incoming"] = lambda form: twiml(f"<Dial>{rooms[form['From']]}</Dial>")
    app.pages["/music"] = twiml("<Say>Music</Say>")
    sim = simulator(app, time_scale=SCALE)
    handles = []
    for count, number in enumerate(rooms, start=1):
        handles.append(sim.start(Caller(number=number, script=[Wait(20)])))
        wait_until(lambda count=count: present(sim, "lobby") == count)  # type: ignore[misc]
        if number.endswith("2"):
            wait_until(lambda: "/music" in app.paths())
    first, second, third = (handle.result() for handle in handles)

    # Silence alone and while nobody starts the room, then the second (never the muted third).
    assert hearing(sim, "lobby", "+8613800000001")[:2] == [((), ""), (("+8613800000002",), None)]
    assert hearing(sim, "lobby", "+8613800000002")[0] == ((), f"{PUBLIC}/music")
    assert "Music" in second.said() and first.said() == []
    # Nobody hears the muted third participant; it hears both others.
    assert all("+8613800000003" not in heard.voices for heard in room(sim, "lobby").heard)
    assert hearing(sim, "lobby", "+8613800000003")[0][0] == ("+8613800000001", "+8613800000002")
    beeps = [line.text for line in first.transcript if line.kind == "beep"]
    assert beeps[:1] == ["+8613800000003 joins"] and "+8613800000002 joins" not in beeps
    assert first.errors == second.errors == third.errors == []


def test_announce_label_default_hold_method_and_a_call_moved_out(
    app: ToyApp, simulator: Build
) -> None:
    app.pages["/announce"] = twiml("<Say>A supervisor is listening</Say>")
    sim = simulator(app, time_scale=SCALE)
    sim.add_agent(Agent(AGENT, answer_after=1, talk_seconds=600))
    caller = sim.start(Caller(script=[Hold()]))
    wait_until(lambda: present(sim, "sales") == 1)
    sid = room(sim, "sales").sid
    rest(
        sim, "POST", f"Conferences/{sid}/Participants.json", From="+1", To=AGENT, Label="agent one"
    )
    wait_until(lambda: present(sim, "sales") == 2)
    fetched = rest(sim, "GET", f"Conferences/{sid}/Participants/agent%20one.json").json()
    agent_sid = fetched["call_sid"]
    assert (fetched["label"], fetched["status"]) == ("agent one", "connected")
    rest(
        sim,
        "POST",
        f"Conferences/{sid}/Participants/{agent_sid}.json",
        AnnounceUrl=f"{PUBLIC}/announce",
    )
    # HoldMethod defaults to GET at Twilio: the simulator plays the URL and says so.
    rest(
        sim,
        "POST",
        f"Conferences/{sid}/Participants/{agent_sid}.json",
        Hold="true",
        HoldUrl=f"{PUBLIC}/x",
    )
    wait_until(lambda: "announcement-end" in [e for e, _ in events(app)])
    moved = rest(sim, "POST", f"Calls/{caller.sid}.json", Twiml=twiml("<Say>Moved</Say>"))
    result = caller.result()
    gone = rest(sim, "GET", f"Conferences/{sid}/Participants/{caller.sid}.json")
    rest(sim, "POST", f"Conferences/{sid}.json", Status="completed")
    sim.wait_idle()

    agent = next(r for r in sim.outbound_results if r.sid == agent_sid)
    assert [line.text for line in agent.transcript if line.kind == "announcement"] == [
        "<Say> A supervisor is listening"
    ]
    assert any("HoldMethod" in warning for warning in agent.warnings)
    assert "/x" not in app.paths()
    assert moved.status_code == 200 and result.said() == ["Moved"]
    assert gone.status_code == 404
    assert "/after" not in app.paths()  # a call moved elsewhere does not ask the Dial action
    assert [e for e, _ in events(app)][-1] == "conference-end"


def test_a_dialled_agent_who_declines_is_busy(app: ToyApp, simulator: Build) -> None:
    app.pages["/voice/incoming"] = twiml(f'<Dial action="/after"><Number>{AGENT}</Number></Dial>')
    sim = simulator(app)
    sim.add_agent(Agent(AGENT, declines=True, answer_after=3))
    result = sim.call(Caller())

    dialled = app.form("/after")
    assert (dialled["DialCallStatus"], dialled["DialCallDuration"]) == ("busy", "0")
    assert result.said() == ["Goodbye"]
    assert [line.text for line in result.transcript if line.kind == "dial"][-2:] == [
        f"{AGENT}: declined",
        f"{AGENT}: busy",
    ]
