"""What operators watch: Prometheus metrics of all web processes, JSON logs with the CallSid."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from ivr.database import db
from tests.conftest import PUBLIC_BASE_URL, Twilio, sign
from tests.factories import (
    SID,
    add_agent,
    assert_protected,
    auth,
    call_params,
    make_token,
    to_queue,
    wait_loop,
)
from voicemail import worker
from voicemail.models import ConversationRecording, Voicemail
from voicemail.worker import work, work_if_elected


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def pending_message(app: Flask, n: int, recording_url: str) -> None:
    """A message of the call SID, waiting for the worker."""
    with app.app_context():
        db.session.add(
            Voicemail(
                call_sid=SID, case_number=f"1000000{n}", recording_sid="RE" + str(n) * 32,
                recording_url=recording_url, language="zh",
            )
        )  # fmt: skip
        db.session.commit()


def pending_conversation(app: Flask, recording_url: str) -> None:
    """A recorded conversation whose file Twilio reported complete: the worker's next job."""
    with app.app_context():
        db.session.add(ConversationRecording(call_sid=SID, recording_sid="RE" + "c" * 32,
                                             recording_url=recording_url, language="zh"))  # fmt: skip
        db.session.commit()


def test_metrics_need_a_token(client: FlaskClient) -> None:
    reply = client.get("/metrics")
    assert reply.status_code == 401
    assert "Bearer" in reply.json["error"]["message"]


def test_metrics_count_requests_and_read_the_service_figures(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    add_agent(app, "li", ["zh"], ["product"])
    wait_loop(twilio, to_queue(twilio))  # one caller waits for an agent
    pending_message(app, 1, "https://api.twilio.com/x")
    pending_conversation(app, "https://api.twilio.com/y")
    token = make_token(app)
    reply = client.get("/metrics", headers=auth(token))
    assert reply.status_code == 200
    assert reply.content_type.startswith("text/plain; version=")
    found = samples(reply.get_data(as_text=True))
    incoming = found[
        ("hotline_http_requests_total",
         (("endpoint", "voice.incoming"), ("method", "POST"), ("status", "200")))
    ]  # fmt: skip
    assert incoming >= 1
    assert found[("hotline_http_request_seconds_count", (("endpoint", "voice.incoming"),))] >= 1
    # The backlog counts both kinds of job the workers take.
    assert found[("hotline_transcriptions_pending", ())] == 2
    assert found[("hotline_voicemails", (("status", "pending"),))] == 1
    assert found[("hotline_conversation_recordings", (("status", "pending"),))] == 1
    assert found[("hotline_transcription_lag_seconds", ())] >= 0
    waiting = {k[1][0][1]: v for k, v in found.items() if k[0] == "hotline_queue_waiting"}
    assert waiting == {"product-zh": 1}


def test_logs_are_json_lines_with_the_call_sid(
    app: Flask, twilio: Twilio, capfd: pytest.CaptureFixture[str]
) -> None:
    twilio.post("/voice/incoming", call_params())
    pending_message(app, 2, "http://not-twilio.example/x")  # not Twilio: refused
    app.config["HOTLINE_WORKER_MAX_ATTEMPTS"] = 1
    work(app, burst=True)  # the download is refused: the worker says so
    lines = [
        json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")
    ]
    about_message = [line for line in lines if line["logger"] == "voicemail.worker"
                     and line["message"].startswith("voicemail ")]  # fmt: skip
    assert about_message, lines
    assert all(line["call_sid"] == SID for line in about_message)
    assert all(line["time"].endswith("Z") and line["level"] for line in lines)


@pytest.mark.gunicorn
def test_one_scrape_counts_the_requests_of_every_web_process(app: Flask, gunicorn: str) -> None:
    token = make_token(app)
    params = call_params()
    headers = {"X-Twilio-Signature": sign(PUBLIC_BASE_URL + "/voice/incoming", params)}
    with requests.Session() as session:
        for _ in range(40):  # new connections: gunicorn spreads them over both processes
            assert requests.post(gunicorn + "/voice/incoming", data=params, headers=headers).ok
        for _ in range(3):
            body = session.get(gunicorn + "/metrics", headers=auth(token)).text
            found = samples(body)
            total = sum(
                v for (name, labels), v in found.items()
                if name == "hotline_http_requests_total" and ("endpoint", "voice.incoming") in labels
            )  # fmt: skip
            assert total == 40  # whichever process answered the scrape


@pytest.mark.gunicorn
def test_gunicorn_does_not_name_itself_and_sends_the_security_headers(gunicorn: str) -> None:
    for path in ("/login", "/healthz", "/api/v1/calls", "/static/style.css"):
        reply = requests.get(gunicorn + path, timeout=10)
        assert "gunicorn" not in reply.headers.get("Server", "").lower()
        assert not reply.headers.get("Server")
        assert_protected(reply.headers)


def test_one_web_process_per_data_folder_transcribes_and_another_takes_over(
    app: Flask, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each web process starts the embedded worker thread; only one may load models and work.
    monkeypatch.setattr(worker, "ELECTION_POLL_SECONDS", 0.05)
    caplog.set_level(logging.INFO, logger="voicemail.worker")
    stops = {name: threading.Event() for name in ("web-1", "web-2")}
    threads = {
        name: threading.Thread(target=work_if_elected, args=(app, stop), name=name)
        for name, stop in stops.items()
    }

    def started() -> list[str]:
        return [r.threadName for r in caplog.records if r.getMessage().endswith(" started")]

    def wait_for(count: int) -> list[str]:
        deadline = time.monotonic() + 10
        while len(started()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return started()

    for thread in threads.values():
        thread.start()
    try:
        (first,) = wait_for(1)
        time.sleep(0.3)  # several election rounds: the other one keeps waiting
        assert started() == [first]
        stops[first].set()  # the process that transcribed is gone
        threads[first].join(10)
        (other,) = [name for name in stops if name != first]
        assert wait_for(2) == [first, other]
    finally:
        for name, stop in stops.items():
            stop.set()
            threads[name].join(10)
