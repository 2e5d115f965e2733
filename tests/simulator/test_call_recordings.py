"""Call recordings over real loopback HTTP: a caller's conversation with an agent, channel by channel."""

from __future__ import annotations

import array
import io
import wave
from collections.abc import Callable

import pytest
import requests

from ivr.simulator import Agent, Caller, Simulator, Utterance, tone_wav
from tests.simulator.conftest import ACCOUNT, PUBLIC, TOKEN, ToyApp, twiml
from tests.simulator.test_conferences import present, rest, room, wait_until

Build = Callable[..., Simulator]
SCALE = 0.05
AGENT = "+8613900000001"
# Seconds after each party joins the room: the caller speaks, the agent answers, the caller
# speaks again while the recording is paused, and on after it resumes.
CALLER_SAYS, AGENT_SAYS, CALLER_PAUSED = 4.0, 8.0, 14.0
PAUSE, RESUME, STOP = 13.0, 18.0, 20.0


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


def conversation(sim: Simulator) -> tuple[str, float]:
    """A caller in room ``sales`` with an agent, both scripted to speak; (caller sid, join time)."""
    sim.add_agent(
        Agent(AGENT, answer_after=0.5, talk_seconds=600, says=[Utterance(tone_wav(2), AGENT_SAYS)])
    )
    says = [Utterance.of(tone_wav(2), CALLER_SAYS), Utterance.of(tone_wav(6), CALLER_PAUSED)]
    caller = sim.start(Caller(says=says))
    wait_until(lambda: present(sim, "sales") == 1)
    sid = room(sim, "sales").sid
    rest(sim, "POST", f"Conferences/{sid}/Participants.json", From="+1", To=AGENT)
    wait_until(lambda: present(sim, "sales") == 2)
    joined = next(p.joined_at for p in room(sim, "sales").everyone if p.call_sid == caller.sid)
    return caller.sid, joined


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
    call_sid, joined = conversation(sim)
    made = rest(
        sim,
        "POST",
        f"Calls/{call_sid}/Recordings.json",
        RecordingChannels="dual",
        RecordingTrack="both",
        RecordingStatusCallback=f"{PUBLIC}/rec/status",
        RecordingStatusCallbackEvent=["in-progress", "completed"],  # type: ignore[arg-type]
    )
    assert made.status_code == 201
    recording = made.json()
    assert recording["sid"].startswith("RE") and len(recording["sid"]) == 34
    assert (recording["call_sid"], recording["status"], recording["channels"]) == (
        call_sid,
        "in-progress",
        2,
    )
    started = sim.call_recordings.all[0].started
    at(sim, joined + PAUSE)
    paused = rest(sim, "POST", f"Calls/{call_sid}/Recordings/Twilio.CURRENT.json", Status="paused")
    assert paused.json()["status"] == "paused"
    at(sim, joined + RESUME)
    path = f"Calls/{call_sid}/Recordings/{recording['sid']}.json"
    assert rest(sim, "POST", path, Status="in-progress").json()["status"] == "in-progress"
    at(sim, joined + STOP)
    assert rest(sim, "POST", path, Status="stopped").status_code == 200
    wait_until(lambda: app.paths().count("/rec/status") == 2)
    rest(sim, "POST", f"Conferences/{room(sim, 'sales').sid}.json", Status="completed")
    sim.wait_idle()

    statuses = [r.form for r in app.received if r.path == "/rec/status"]
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
    assert (
        wav.headers["Content-Type"] == "audio/x-wav" and mp3.headers["Content-Type"] == "audio/mpeg"
    )

    count, rate, (says, hears) = channels(wav.content)
    assert (count, rate) == (2, 8000)
    length = len(says) / rate
    assert abs(length - (joined + STOP - started)) < 1.0
    assert int(done["RecordingDuration"]) == round(length)
    agent_joined = next(p.joined_at for p in room(sim, "sales").everyone if p.run.party == AGENT)
    caller_talks = joined + CALLER_SAYS - started
    agent_talks = agent_joined + AGENT_SAYS - started
    assert loud(says, caller_talks + 0.3, caller_talks + 1.7)
    assert not loud(hears, caller_talks + 0.3, caller_talks + 1.7)
    assert loud(hears, agent_talks + 0.3, agent_talks + 1.7)
    assert not loud(says, agent_talks + 0.3, agent_talks + 1.7)
    # The caller spoke while the recording was paused: silence in its place.
    paused_at = joined + PAUSE - started
    resumed_at = joined + RESUME - started
    assert not loud(says, paused_at + 0.3, resumed_at - 0.3)
    assert loud(says, resumed_at + 1.0, resumed_at + 1.5)
