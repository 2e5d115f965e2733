"""Call recordings over real loopback HTTP: a caller's conversation with an agent, channel by channel."""

from __future__ import annotations

import array
import io
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from ivr.simulator import Agent, Caller, Simulator, Utterance, tone_wav
from tests.simulator.conftest import ACCOUNT, PUBLIC, TOKEN, ToyApp, twiml
from tests.simulator.test_conferences import present, rest, room, wait_until

Build = Callable[..., Simulator]
SCALE = 0.05
AGENT = "+8613900000001"
# The caller speaks CALLER_SAYS seconds after joining the room; the agent AGENT_SAYS seconds after
# joining it, and again from AGENT_PAUSED on: the recording pauses, resumes and stops meanwhile.
CALLER_SAYS, AGENT_SAYS, AGENT_PAUSED = 3.0, 6.0, 10.0
PAUSE, RESUME, STOP = 9.5, 12.0, 14.0


@pytest.fixture
def app(toy: ToyApp) -> ToyApp:
    """Callers go to room ``sales``; recording callbacks are answered 204."""
    toy.pages.update(
        {
            "/voice/incoming": twiml("<Dial><Conference>sales</Conference></Dial>"),
            "/rec/status": (204, "", "text/plain"),
            "/agent/status": (204, "", "text/plain"),
        }
    )
    return toy


@dataclass
class Talk:
    """A caller and an agent in room ``sales``, maybe recorded from the caller's joining."""

    call_sid: str
    joined: float
    agent_joined: float
    recording: dict[str, object] | None


def conversation(sim: Simulator, *, speech: bool = True, **recording: object) -> Talk:
    """The caller joins, the caller's recording starts (with ``recording``'s fields), the agent
    joins; both scripted to speak unless ``speech`` is false."""
    agent_says = [Utterance(tone_wav(2), AGENT_SAYS), Utterance(tone_wav(6), AGENT_PAUSED)]
    sim.add_agent(
        Agent(AGENT, answer_after=0.5, talk_seconds=600, says=agent_says if speech else [])
    )
    caller = sim.start(Caller(says=[Utterance.of(tone_wav(2), CALLER_SAYS)] if speech else []))
    wait_until(lambda: present(sim, "sales") == 1)
    made = None
    if recording:
        answer = rest(sim, "POST", f"Calls/{caller.sid}/Recordings.json", **recording)  # type: ignore[arg-type]
        assert answer.status_code == 201
        made = answer.json()
    sid = room(sim, "sales").sid
    rest(sim, "POST", f"Conferences/{sid}/Participants.json", From="+1", To=AGENT)
    wait_until(lambda: present(sim, "sales") == 2)
    everyone = room(sim, "sales").everyone
    joined = next(p.joined_at for p in everyone if p.call_sid == caller.sid)
    agent_joined = next(p.joined_at for p in everyone if p.run.party == AGENT)
    return Talk(caller.sid, joined, agent_joined, made)


def at(sim: Simulator, moment: float) -> None:
    """Wait until the simulator's clock reaches ``moment``."""
    assert sim.shared_clock is not None
    wait_until(lambda: sim.shared_clock.now() >= moment)  # type: ignore[union-attr]


def channels(audio: bytes) -> tuple[int, int, list[array.array[int]]]:
    """(channels, rate, samples per channel) of a 16-bit WAV."""
    with wave.open(io.BytesIO(audio)) as wav:
        count, rate = wav.getnchannels(), wav.getframerate()
        samples = array.array("h", wav.readframes(wav.getnframes()))
    return count, rate, [samples[i::count] for i in range(count)]


def loud(samples: array.array[int], start: float, end: float, rate: int = 8000) -> bool:
    """True if the stretch from ``start`` to ``end`` seconds is clearly not silence."""
    window = samples[int(start * rate) : int(end * rate)]
    return len(window) > 0 and max(abs(s) for s in window) > 1000


def test_dual_recording_keeps_caller_and_agent_apart_with_a_silent_pause(
    app: ToyApp, simulator: Build
) -> None:
    sim = simulator(app, time_scale=SCALE)
    talk = conversation(
        sim,
        RecordingChannels="dual",
        RecordingTrack="both",
        RecordingStatusCallback=f"{PUBLIC}/rec/status",
        RecordingStatusCallbackEvent=["in-progress", "completed"],
    )
    recording, call_sid, agent_joined = talk.recording, talk.call_sid, talk.agent_joined
    assert recording is not None
    assert str(recording["sid"]).startswith("RE") and len(str(recording["sid"])) == 34
    assert (recording["call_sid"], recording["status"], recording["channels"]) == (
        call_sid,
        "in-progress",
        2,
    )
    at(sim, agent_joined + PAUSE)
    paused = rest(sim, "POST", f"Calls/{call_sid}/Recordings/Twilio.CURRENT.json", Status="paused")
    assert paused.json()["status"] == "paused"
    at(sim, agent_joined + RESUME)
    path = f"Calls/{call_sid}/Recordings/{recording['sid']}.json"
    assert rest(sim, "POST", path, Status="in-progress").json()["status"] == "in-progress"
    at(sim, agent_joined + STOP)
    assert rest(sim, "POST", path, Status="stopped").status_code == 200
    wait_until(lambda: len(recording_callbacks(app)) == 2)
    rest(sim, "POST", f"Conferences/{room(sim, 'sales').sid}.json", Status="completed")
    sim.wait_idle()

    statuses = recording_callbacks(app)
    assert [form["RecordingStatus"] for form in statuses] == ["in-progress", "completed"]
    done = statuses[-1]
    assert done["CallSid"] == call_sid and done["RecordingSid"] == recording["sid"]
    assert (done["AccountSid"], done["RecordingChannels"], done["RecordingTrack"]) == (
        ACCOUNT,
        "2",
        "both",
    )
    assert (done["RecordingSource"], done["ErrorCode"]) == ("StartCallRecordingAPI", "0")
    assert done["RecordingStartTime"] and done["RecordingUrl"].startswith(sim.api_base_url)
    assert requests.get(done["RecordingUrl"], timeout=10).status_code == 401
    wav = requests.get(done["RecordingUrl"], auth=(ACCOUNT, TOKEN), timeout=10)
    mp3 = requests.get(done["RecordingUrl"] + ".mp3", auth=(ACCOUNT, TOKEN), timeout=10)
    assert wav.headers["Content-Type"] == "audio/x-wav"
    assert mp3.headers["Content-Type"] == "audio/mpeg"

    count, rate, (says, hears) = channels(wav.content)
    assert (count, rate) == (2, 8000)
    started = sim.call_recordings.all[0].started
    length = len(says) / rate
    assert -0.1 < length - (agent_joined + STOP - started) < 2.0  # the stop comes a little late
    assert int(done["RecordingDuration"]) == round(length)
    caller_talks = talk.joined + CALLER_SAYS - started
    agent_talks = agent_joined + AGENT_SAYS - started
    assert loud(says, caller_talks + 0.3, caller_talks + 1.7)
    assert not loud(hears, caller_talks + 0.3, caller_talks + 1.7)
    assert loud(hears, agent_talks + 0.3, agent_talks + 1.7)
    assert not loud(says, agent_talks + 0.3, agent_talks + 1.7)
    # The agent spoke on while the recording was paused: silence in its place, then the rest.
    paused_at, resumed_at = agent_joined + PAUSE - started, agent_joined + RESUME - started
    assert not loud(hears, paused_at + 0.3, resumed_at - 0.3)
    assert loud(hears, resumed_at + 1.0, resumed_at + 1.5)


def recording_callbacks(app: ToyApp) -> list[dict[str, str]]:
    """The forms of the recording status callbacks received."""
    return [r.form for r in app.received if r.path == "/rec/status"]


def test_skipped_pause_shortens_the_recording_which_ends_with_the_call(
    app: ToyApp, simulator: Build
) -> None:
    sim = simulator(app, time_scale=SCALE)
    talk = conversation(sim, RecordingStatusCallback=f"{PUBLIC}/rec/status")
    assert talk.recording is not None and talk.recording["channels"] == 1
    current = f"Calls/{talk.call_sid}/Recordings/Twilio.CURRENT.json"
    at(sim, talk.agent_joined + PAUSE)
    rest(sim, "POST", current, Status="paused", PauseBehavior="skip")
    at(sim, talk.agent_joined + RESUME)
    rest(sim, "POST", current, Status="in-progress")
    at(sim, talk.agent_joined + STOP)
    rest(sim, "POST", f"Conferences/{room(sim, 'sales').sid}.json", Status="completed")
    sim.wait_idle()

    [done] = recording_callbacks(app)  # completed only: RecordingStatusCallbackEvent's default
    assert (done["RecordingStatus"], done["RecordingChannels"]) == ("completed", "1")
    wav = requests.get(done["RecordingUrl"], auth=(ACCOUNT, TOKEN), timeout=10).content
    count, rate, (mono,) = channels(wav)
    assert count == 1
    # Ended with the call (at STOP or a little later), less the skipped RESUME - PAUSE.
    started = sim.call_recordings.all[0].started
    expected = talk.agent_joined + STOP - started - (RESUME - PAUSE)
    assert expected - 0.5 < len(mono) / rate < expected + 1.5
    # Caller and agent are mixed in one channel.
    for spoke in (talk.joined + CALLER_SAYS - started, talk.agent_joined + AGENT_SAYS - started):
        assert loud(mono, spoke + 0.3, spoke + 1.7)
    listed = rest(sim, "GET", f"Calls/{talk.call_sid}/Recordings.json").json()["recordings"]
    assert [(r["sid"], r["status"]) for r in listed] == [(done["RecordingSid"], "completed")]
    assert listed[0]["duration"] == done["RecordingDuration"]
    assert rest(sim, "GET", current).status_code == 404  # nothing in progress any more


def test_a_whisper_to_the_agent_is_not_in_the_customers_recording(
    app: ToyApp, simulator: Build
) -> None:
    supervisor = "+8613900000009"
    sim = simulator(app, time_scale=SCALE)
    sim.add_agent(
        Agent(supervisor, answer_after=0.5, talk_seconds=600, says=[Utterance(tone_wav(2), 2.0)])
    )
    call_sid = conversation(sim, speech=False).call_sid
    agent_sid = next(p.call_sid for p in room(sim, "sales").participants if p.run.party == AGENT)
    for sid in (call_sid, agent_sid):
        made = rest(
            sim,
            "POST",
            f"Calls/{sid}/Recordings.json",
            RecordingChannels="dual",
            RecordingStatusCallback=f"{PUBLIC}/rec/status",
        )
        assert made.status_code == 201
    room_sid = room(sim, "sales").sid
    rest(
        sim,
        "POST",
        f"Conferences/{room_sid}/Participants.json",
        From="+1",
        To=supervisor,
        Coaching="true",
        CallSidToCoach=agent_sid,
    )
    wait_until(lambda: present(sim, "sales") == 3)
    whisper = next(p for p in room(sim, "sales").participants if p.run.party == supervisor)
    at(sim, whisper.joined_at + 5)
    rest(sim, "POST", f"Conferences/{room_sid}.json", Status="completed")
    sim.wait_idle()

    by_call = {form["CallSid"]: form for form in recording_callbacks(app)}
    starts = {r.run.result.sid: r.started for r in sim.call_recordings.all}
    whispered = whisper.joined_at + 2.0
    for sid, heard in ((call_sid, False), (agent_sid, True)):
        wav = requests.get(by_call[sid]["RecordingUrl"], auth=(ACCOUNT, TOKEN), timeout=10)
        _, _, (says, hears) = channels(wav.content)
        window = (whispered - starts[sid] + 0.3, whispered - starts[sid] + 1.7)
        assert loud(hears, *window) is heard
        assert not loud(says, *window)


def test_a_recording_paused_with_skip_throughout_is_absent(app: ToyApp, simulator: Build) -> None:
    # Slower time: the pause must follow the start within half a simulated second.
    sim = simulator(app, time_scale=0.5)
    call_sid = sim.start(Caller()).sid
    wait_until(lambda: present(sim, "sales") == 1)
    path = f"Calls/{call_sid}/Recordings.json"
    made = rest(
        sim,
        "POST",
        path,
        RecordingStatusCallback=f"{PUBLIC}/rec/status",
        RecordingStatusCallbackEvent="absent completed",
    ).json()
    current = f"Calls/{call_sid}/Recordings/Twilio.CURRENT.json"
    rest(sim, "POST", current, Status="paused", PauseBehavior="skip")
    stopped = rest(sim, "POST", current, Status="stopped")
    assert (stopped.status_code, stopped.json()["status"]) == (200, "stopped")
    wait_until(lambda: len(recording_callbacks(app)) == 1)
    [absent] = recording_callbacks(app)
    assert (absent["RecordingSid"], absent["RecordingStatus"]) == (made["sid"], "absent")
    assert absent["RecordingDuration"] == "0"
    assert (
        requests.get(absent["RecordingUrl"], auth=(ACCOUNT, TOKEN), timeout=10).status_code == 404
    )
    rest(sim, "POST", f"Conferences/{room(sim, 'sales').sid}.json", Status="completed")
    sim.wait_idle()


def test_recording_a_call_that_is_over_or_unknown_is_refused(app: ToyApp, simulator: Build) -> None:
    app.pages["/voice/incoming"] = twiml("<Say>Bye</Say>")
    sim = simulator(app)
    result = sim.call(Caller())
    refused = rest(sim, "POST", f"Calls/{result.sid}/Recordings.json")
    assert (refused.status_code, refused.json()["code"]) == (400, 21220)
    unknown = rest(sim, "POST", f"Calls/CA{'0' * 32}/Recordings.json")
    assert unknown.status_code == 404
    url = f"{sim.api_base_url}/2010-04-01/Accounts/{ACCOUNT}/Calls/{result.sid}/Recordings.json"
    assert requests.post(url, timeout=10).status_code == 401
    assert recording_callbacks(app) == []


def test_an_utterance_of_any_audio_file_is_phone_audio() -> None:
    clip = sorted((Path(__file__).parents[1] / "data" / "speech" / "ko").glob("*.flac"))[0]
    utterance = Utterance.of(clip, at=1.5)
    with wave.open(io.BytesIO(utterance.audio)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (1, 8000, 2)
        assert wav.getnframes() > 8000
    assert utterance.at == 1.5


def test_dial_record_dual_keeps_both_legs_apart_from_when_they_are_connected(
    app: ToyApp, simulator: Build
) -> None:
    """``<Dial record="record-from-answer-dual">``: the dialling leg on channel 1, the dialled on
    channel 2, from the end of the callee's whisper; pausable through the REST API."""
    app.pages["/voice/incoming"] = twiml(
        f'<Dial record="record-from-answer-dual" action="/dialed"'
        f' recordingStatusCallback="/rec/status"'
        f' recordingStatusCallbackEvent="in-progress completed">'
        f'<Number url="/whisper">{AGENT}</Number></Dial>'
    )
    app.pages["/whisper"] = twiml('<Pause length="4"/>')
    app.pages["/dialed"] = twiml("<Hangup/>")
    sim = simulator(app, time_scale=SCALE)
    # The agent answers after 1 s, hears 4 s of whisper, then both talk for 16 s.
    sim.add_agent(
        Agent(
            AGENT,
            answer_after=1.0,
            talk_seconds=16,
            says=[Utterance(tone_wav(1.5), 5.0), Utterance(tone_wav(6), 8.0)],
        )
    )
    handle = sim.start(Caller(says=[Utterance(tone_wav(2), 2.0)]))
    wait_until(lambda: bool(sim.call_recordings.all))
    recording = sim.call_recordings.all[0]
    at(sim, recording.started + 9.0)
    current = f"Calls/{handle.sid}/Recordings/Twilio.CURRENT.json"
    assert rest(sim, "POST", current, Status="paused").json()["status"] == "paused"
    at(sim, recording.started + 12.0)
    assert rest(sim, "POST", current, Status="in-progress").json()["status"] == "in-progress"
    sim.wait_idle()

    statuses = recording_callbacks(app)
    assert [form["RecordingStatus"] for form in statuses] == ["in-progress", "completed"]
    done = statuses[-1]
    assert (done["CallSid"], done["RecordingSource"], done["RecordingChannels"]) == (
        handle.sid,
        "DialVerb",
        "2",
    )
    [dialed] = [r.form for r in app.received if r.path == "/dialed"]
    assert (dialed["DialCallStatus"], dialed["RecordingSid"]) == ("completed", done["RecordingSid"])
    assert dialed["RecordingUrl"] == done["RecordingUrl"]
    wav = requests.get(done["RecordingUrl"], auth=(ACCOUNT, TOKEN), timeout=10).content
    count, rate, (caller, agent) = channels(wav)
    assert count == 2
    assert 15.5 < len(caller) / rate < 17.5  # the talk, not the ringing nor the whisper
    assert loud(caller, 2.3, 3.7) and not loud(agent, 2.3, 3.7)
    assert loud(agent, 5.2, 6.3) and not loud(caller, 5.2, 6.3)
    # The agent spoke from 8 s to 14 s: silence where the recording was paused (9 s to 12 s).
    assert loud(agent, 8.2, 8.8) and not loud(agent, 9.4, 11.6) and loud(agent, 12.5, 13.5)


def test_dial_without_record_records_nothing(app: ToyApp, simulator: Build) -> None:
    app.pages["/voice/incoming"] = twiml(f'<Dial action="/dialed"><Number>{AGENT}</Number></Dial>')
    app.pages["/dialed"] = twiml("<Hangup/>")
    sim = simulator(app, time_scale=SCALE)
    sim.add_agent(Agent(AGENT, answer_after=1.0, talk_seconds=3))
    sim.call(Caller())
    [dialed] = [r.form for r in app.received if r.path == "/dialed"]
    assert "RecordingUrl" not in dialed and sim.call_recordings.all == []
    assert recording_callbacks(app) == []
