"""<Record>: media served with basic auth, callback order, empty recordings, hang-ups."""

from __future__ import annotations

import io
import time
import wave
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import pytest
import requests

from ivr.simulator import (
    Caller,
    Hangup,
    Press,
    RecordingServer,
    Silence,
    Simulator,
    Speak,
    tone_wav,
)
from tests.simulator.conftest import ACCOUNT, TOKEN, ToyApp, twiml

Build = Callable[..., Simulator]

RECORD = (
    '<Record action="/voice/recorded" recordingStatusCallback="recording-status" maxLength="60"/>'
)


def fetch(url: str, auth: tuple[str, str] | None = (ACCOUNT, TOKEN)) -> requests.Response:
    """GET a recording as the app's worker would."""
    return requests.get(url, auth=auth, timeout=5)


def test_record_posts_action_then_status_callback_and_serves_media(
    toy: ToyApp, simulator: Build
) -> None:
    toy.pages["/voice/incoming"] = twiml("<Say>leave a message</Say>", RECORD)
    toy.pages["/voice/recorded"] = twiml("<Say>thank you</Say>")
    result = simulator(toy).call(Caller(script=[Speak(tone_wav(3.0))]))

    assert toy.paths() == [
        "/voice/incoming",
        "/voice/recorded",
        "/voice/recording-status",
        "/voice/status",
    ]
    action = toy.form("/voice/recorded")
    assert action["Digits"] == "#"
    assert action["RecordingDuration"] == "3"
    assert action["RecordingSid"].startswith("RE") and len(action["RecordingSid"]) == 34
    assert action["RecordingUrl"].startswith("http://127.0.0.1:")
    assert action["RecordingUrl"].endswith(
        f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/{action['RecordingSid']}"
    )
    status = toy.form("/voice/recording-status")
    assert {k: status[k] for k in ("RecordingSid", "RecordingUrl", "RecordingDuration")} == {
        k: action[k] for k in ("RecordingSid", "RecordingUrl", "RecordingDuration")
    }
    assert status["RecordingStatus"] == "completed"
    assert status["RecordingChannels"] == "1"
    assert status["RecordingSource"] == "RecordVerb"
    assert status["ErrorCode"] == "0"
    assert status["CallSid"] == result.sid and status["AccountSid"] == ACCOUNT
    assert parsedate_to_datetime(status["RecordingStartTime"]).tzinfo is not None
    assert [line.kind for line in result.transcript][:5] == [
        "say",
        "beep",
        "record",
        "press",
        "say",
    ]
    assert result.said() == ["leave a message", "thank you"]

    url = action["RecordingUrl"]
    assert fetch(url, auth=None).status_code == 401
    assert fetch(url, auth=(ACCOUNT, "wrong")).status_code == 401
    wav = fetch(url)
    assert wav.status_code == 200 and wav.headers["Content-Type"] == "audio/x-wav"
    with wave.open(io.BytesIO(wav.content)) as audio:
        assert audio.getnframes() == 3 * 8000
    mp3 = fetch(url + ".mp3")
    assert mp3.status_code == 200 and mp3.headers["Content-Type"] == "audio/mpeg"
    assert len(mp3.content) > 1000


def test_media_is_not_ready_until_the_status_callback(toy: ToyApp, simulator: Build) -> None:
    seen: dict[str, int] = {}

    def download(name: str) -> Callable[[dict[str, str]], str]:
        def page(form: dict[str, str]) -> str:
            seen[name] = fetch(form["RecordingUrl"]).status_code
            return twiml()

        return page

    toy.pages["/voice/incoming"] = twiml(RECORD)
    toy.pages["/voice/recorded"] = download("action")
    toy.pages["/voice/recording-status"] = download("status")
    with RecordingServer(ACCOUNT, TOKEN, not_ready_requests=1) as media:
        simulator(toy, recording_server=media).call(Caller(script=[Speak(tone_wav(1.0))]))

        assert seen == {"action": 404, "status": 200}
        assert [status for _, status in media.fetches] == [404, 200]


def test_status_callback_first_swaps_the_order(toy: ToyApp, simulator: Build) -> None:
    toy.pages["/voice/incoming"] = twiml(RECORD)
    toy.pages["/voice/recorded"] = twiml("<Hangup/>")
    simulator(toy, status_callback_first=True).call(Caller(script=[Speak(tone_wav(1.0))]))

    assert toy.paths()[1:3] == ["/voice/recording-status", "/voice/recorded"]


@pytest.mark.parametrize("action", [Silence(), Press("#")])
def test_empty_recording_sends_no_action_and_goes_on(
    toy: ToyApp, simulator: Build, action: Silence | Press
) -> None:
    toy.pages["/voice/incoming"] = twiml(RECORD, "<Say>nothing recorded</Say>")
    result = simulator(toy).call(Caller(script=[action]))

    assert toy.paths() == ["/voice/incoming", "/voice/status"]
    assert result.said() == ["nothing recorded"]


def test_hangup_during_recording_still_posts_the_action(toy: ToyApp, simulator: Build) -> None:
    toy.pages["/voice/incoming"] = twiml(RECORD)
    toy.pages["/voice/recorded"] = twiml("<Say>never heard</Say>")
    result = simulator(toy).call(Caller(script=[Speak(tone_wav(2.0), hangup_after=True)]))

    assert toy.paths() == [
        "/voice/incoming",
        "/voice/recorded",
        "/voice/recording-status",
        "/voice/status",
    ]
    assert toy.form("/voice/recorded")["Digits"] == "hangup"
    assert toy.form("/voice/recorded")["RecordingDuration"] == "2"
    assert result.said() == []
    assert result.transcript[-1].text == "during the recording"
    assert result.errors == []


def test_hangup_before_the_beep_records_nothing(toy: ToyApp, simulator: Build) -> None:
    toy.pages["/voice/incoming"] = twiml(RECORD)
    result = simulator(toy).call(Caller(script=[Hangup()]))

    assert toy.paths() == ["/voice/incoming", "/voice/status"]
    assert "beep" not in [line.kind for line in result.transcript]


def test_recording_is_capped_at_max_length(toy: ToyApp, simulator: Build) -> None:
    toy.pages["/voice/incoming"] = twiml('<Record action="/voice/recorded" maxLength="2"/>')
    toy.pages["/voice/recorded"] = twiml()
    simulator(toy).call(Caller(script=[Speak(tone_wav(5.0))]))

    action = toy.form("/voice/recorded")
    assert action["RecordingDuration"] == "2"
    assert "Digits" not in action
    with wave.open(io.BytesIO(fetch(action["RecordingUrl"]).content)) as audio:
        assert audio.getnframes() == 2 * 8000


def test_record_without_action_requests_the_current_document(toy: ToyApp, simulator: Build) -> None:
    toy.pages["/voice/incoming"] = lambda form: twiml(
        "<Say>saved</Say>" if "RecordingSid" in form else '<Record playBeep="false"/>'
    )
    result = simulator(toy).call(Caller(script=[Speak(tone_wav(1.0))]))

    assert toy.paths() == ["/voice/incoming", "/voice/incoming", "/voice/status"]
    assert result.said() == ["saved"]


def test_media_is_not_ready_for_a_while_after_recording(toy: ToyApp, simulator: Build) -> None:
    toy.pages["/voice/incoming"] = twiml(RECORD)
    toy.pages["/voice/recorded"] = twiml()
    with RecordingServer(ACCOUNT, TOKEN, not_ready_seconds=0.3) as media:
        simulator(toy, recording_server=media).call(Caller(script=[Speak(tone_wav(1.0))]))
        url = toy.form("/voice/recorded")["RecordingUrl"]

        assert fetch(url).status_code == 404
        time.sleep(0.35)
        assert fetch(url).status_code == 200


def test_status_callback_events_in_progress_and_absent(toy: ToyApp, simulator: Build) -> None:
    toy.pages["/voice/incoming"] = twiml(
        '<Record action="/voice/recorded" recordingStatusCallback="/voice/recording-status"'
        ' recordingStatusCallbackEvent="in-progress completed absent"/>',
        "<Say>nothing recorded</Say>",
    )
    toy.pages["/voice/recorded"] = twiml()
    simulator(toy).call(Caller(script=[Speak(tone_wav(1.0))]))
    simulator(toy).call(Caller(script=[Silence()]))

    statuses = [
        (r.path, r.form["RecordingStatus"])
        for r in toy.received
        if r.path == "/voice/recording-status"
    ]
    assert [status for _, status in statuses] == [
        "in-progress",
        "completed",
        "in-progress",
        "absent",
    ]
    assert toy.paths()[:4] == [
        "/voice/incoming",
        "/voice/recording-status",
        "/voice/recorded",
        "/voice/recording-status",
    ]
    absent = toy.form("/voice/recording-status")
    assert (absent["RecordingDuration"], absent["ErrorCode"]) == ("0", "16102")


def test_silent_audio_is_an_empty_recording(toy: ToyApp, simulator: Build) -> None:
    silence = io.BytesIO()
    with wave.open(silence, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"\x03\x00" * 8000 * 2)  # two seconds of faint line noise
    toy.pages["/voice/incoming"] = twiml(RECORD, "<Say>nothing recorded</Say>")
    result = simulator(toy).call(Caller(script=[Speak(silence.getvalue())]))

    assert "/voice/recorded" not in toy.paths()
    assert result.said() == ["nothing recorded"]


@pytest.mark.parametrize(
    ("record", "key", "duration", "digits"),
    [
        ('<Record action="/voice/recorded" finishOnKey="*"/>', "#", "2", None),
        ('<Record action="/voice/recorded" finishOnKey="*"/>', "*", "2", "*"),
        ('<Record action="/voice/recorded" timeout="4" trim="do-not-trim"/>', "", "6", None),
        ('<Record action="/voice/recorded" timeout="4"/>', "", "2", None),
    ],
)
def test_how_the_caller_ends_a_recording(
    toy: ToyApp, simulator: Build, record: str, key: str, duration: str, digits: str | None
) -> None:
    toy.pages["/voice/incoming"] = twiml(record)
    toy.pages["/voice/recorded"] = twiml()
    simulator(toy).call(Caller(script=[Speak(tone_wav(2.0), key=key)]))

    action = toy.form("/voice/recorded")
    assert action["RecordingDuration"] == duration
    assert action.get("Digits") == digits


def test_hangup_while_silent_ends_the_call_without_a_recording(
    toy: ToyApp, simulator: Build
) -> None:
    toy.pages["/voice/incoming"] = twiml(RECORD, "<Say>unheard</Say>")
    result = simulator(toy).call(Caller(script=[Speak(b"", hangup_after=True)]))

    assert toy.paths() == ["/voice/incoming", "/voice/status"]
    assert result.said() == []
    assert result.transcript[-1].kind == "hangup"


@pytest.mark.parametrize(
    ("overrides", "deliveries"),
    [("#rc=2&rp=all", 3), ("#rc=2&rp=5xx", 3), ("#rc=2&rp=4xx", 1), ("#rc=1&rp=all", 2), ("", 1)],
)
def test_connection_overrides_on_a_callback_url_set_its_retries(
    toy: ToyApp, simulator: Build, overrides: str, deliveries: int
) -> None:
    answers = iter([503, 503, 204, 204])
    toy.pages["/voice/recording-status"] = lambda form: (next(answers), "", "text/plain")
    toy.pages["/voice/incoming"] = twiml(
        '<Record action="/voice/recorded"'
        f' recordingStatusCallback="/voice/recording-status{overrides.replace("&", "&amp;")}"/>'
    )
    toy.pages["/voice/recorded"] = twiml()
    simulator(toy, callback_retry_delay=0).call(Caller(script=[Speak(tone_wav(1.0))]))

    # Counted only when signed right: the fragment is never part of the signed URL.
    assert toy.paths().count("/voice/recording-status") == deliveries
