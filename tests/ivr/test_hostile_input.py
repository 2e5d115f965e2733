"""Hostile values in caller-controlled fields: answered with TwiML or a clean 4xx, kept as data.

Twilio passes on what callers and their carriers send: caller ID and CNAM can be spoofed, a SIP
trunk puts arbitrary text in From. None of it may break a webhook, reach SQL as code, leave the
data folder or make the worker fetch from anywhere but Twilio.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, inspect, select
from werkzeug.test import TestResponse

from ivr.database import db
from ivr.models import Call, CallEvent
from tests.conftest import Twilio
from tests.factories import auth, call_params, make_token
from tests.loopback import serve
from tests.twiml import Doc
from voicemail.models import Voicemail, VoicemailStatus
from voicemail.worker import work

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'; DROP TABLE calls; --",
    "' OR '1'='1",
    "../../etc/passwd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..\\..\\windows\\win.ini",
    "\u202eevil\u202c 👋🏽 مرحبا 客服",
    '=HYPERLINK("http://x.example","x")',
    "{{7*7}} ${7*7} %s%n",
    "x" * 256,
]
# Refused, never cut into a row: over the webhook field limit, and a NUL (PostgreSQL's text
# cannot hold one; SQLite's can, so both refuse it alike).
REFUSED = ["y" * 257, "+86138\x00<b>nul</b>"]
TABLES = {"calls", "call_events", "voicemails", "voicemail_notes", "orders", "agents"}


def sid(n: int) -> str:
    return f"CA{n:032d}"


def answered(reply: TestResponse) -> Doc | None:
    """A webhook answer is TwiML (parsed here) or a one-line 4xx, never a 5xx or a traceback."""
    body = reply.get_data(as_text=True)
    assert reply.status_code < 500, body[:300]
    assert "Traceback" not in body
    if 400 <= reply.status_code < 500:
        assert reply.mimetype == "text/plain" and "\n" not in body.strip(), body[:300]
        return None
    if reply.status_code == 200:
        return Doc.parse(body)
    return None


def tables_hold(app: Flask, **counts: int) -> None:
    """Every table still exists, and the named ones hold ``counts`` rows."""
    with app.app_context():
        assert set(inspect(db.engine).get_table_names()) >= TABLES
        for name, expected in counts.items():
            model = {"calls": Call, "voicemails": Voicemail}[name]
            assert db.session.scalar(select(func.count()).select_from(model)) == expected, name


def outside_data(root: Path, data: Path) -> list[Path]:
    """Files under ``root`` that are not in the data folder."""
    return [p for p in root.rglob("*") if p.is_file() and not p.is_relative_to(data)]


@dataclass
class Hosts:
    """Loopback stand-ins, and every path each one was asked for."""

    shop: str = ""
    twilio: str = ""
    elsewhere: str = ""
    asked: dict[str, list[str]] = field(default_factory=lambda: {"shop": [], "elsewhere": []})


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    """The shop's order endpoint, Twilio's media host (which redirects) and a host elsewhere."""
    found = Hosts()

    def handler(name: str, status: int) -> type[BaseHTTPRequestHandler]:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found.asked.setdefault(name, []).append(self.path)
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", f"{found.elsewhere}/stolen")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    with (
        serve(handler("shop", 404)) as found.shop,
        serve(handler("twilio", 302)) as found.twilio,
        serve(handler("elsewhere", 200)) as found.elsewhere,
    ):
        yield found


@pytest.fixture
def app_settings(app_settings: dict[str, Any], hosts: Hosts) -> dict[str, Any]:
    app_settings.update(
        ORDER_LOOKUP_URL=hosts.shop + "/orders/{number}",
        TWILIO_API_BASE_URL=hosts.twilio,
        HOTLINE_ENV="development",  # plain http: the loopback stand-in for Twilio is trusted only outside production
        HOTLINE_WORKER_MAX_ATTEMPTS=1,
    )
    return app_settings


def test_hostile_caller_id_and_name_are_kept_verbatim_or_refused(
    app: Flask, twilio: Twilio, client: FlaskClient, tmp_path: Path
) -> None:
    for n, value in enumerate(HOSTILE):
        fields = {"From": value, "CallerName": value, "SpeechResult": value}
        doc = answered(twilio.post("/voice/incoming", call_params(CallSid=sid(n), **fields)))
        assert doc is not None and doc.gather() is not None  # the caller hears the menu
    for value in REFUSED:
        for name in ("From", "CallerName"):
            refused = twilio.post("/voice/incoming", call_params(CallSid=sid(99), **{name: value}))
            assert answered(refused) is None and refused.status_code == 400, (name, value)
    tables_hold(app, calls=len(HOSTILE))

    token = make_token(app)
    for n, value in enumerate(HOSTILE):
        call = client.get(f"/api/v1/calls/{sid(n)}", headers=auth(token)).json
        # Stored as sent, within the columns' documented widths (64 and 128 characters).
        assert (call["from"], call["caller_name"]) == (value[:64], value[:128])
        assert call["events"][0]["detail"]["from"] == value[:64]
    # Filters are data too: a quote or a LIKE wildcard finds only what it literally says.
    for value in ("' OR '1'='1", "%", "_", "'; DROP TABLE calls; --"):
        found = client.get("/api/v1/calls", query_string={"number": value}, headers=auth(token))
        assert [c["from"] for c in found.json["data"]] == [v for v in HOSTILE if v == value]
        for name in ("number", "case_number", "category", "language"):
            listed = client.get("/api/v1/voicemails", query_string={name: value},
                                headers=auth(token))  # fmt: skip
            assert listed.status_code == 200 and listed.json["data"] == []
    for value in ("../../etc/passwd", "'; DROP TABLE calls; --", "<script>"):
        missing = client.get("/api/v1/calls/" + quote(value, safe=""), headers=auth(token))
        assert missing.status_code == 404 and missing.json["error"]["status"] == 404
    # SQLite finds nothing for a NUL; PostgreSQL cannot even compare one: a 400, never a 500.
    for path in ("/api/v1/calls?number=a%00b", "/api/v1/voicemails?case_number=a%00b",
                 "/api/v1/calls/CA%00"):  # fmt: skip
        reply = client.get(path, headers=auth(token))
        assert reply.status_code in (200, 400, 404) and reply.is_json, path
    # "²" and "١" pass str.isdigit(); neither is a number a page size or a call length is made of.
    for value in ("²", "1" * 400, "-1", "1e3", "\u0661"):
        paged = client.get("/api/v1/calls", query_string={"limit": value}, headers=auth(token))
        assert paged.status_code == 400 and "limit" in paged.json["error"]["message"], value
        ended = twilio.post("/voice/status", call_params(CallSid=sid(0), CallStatus="completed",
                                                         CallDuration=value))  # fmt: skip
        assert ended.status_code == 400 and answered(ended) is None, value
    tables_hold(app, calls=len(HOSTILE))
    assert outside_data(tmp_path, Path(app.config["HOTLINE_DATA_DIR"])) == []


@pytest.mark.parametrize(("node", "lookup"), [("delivery", "order"), ("case_status", "case")])
def test_hostile_keys_at_a_number_prompt_are_asked_again_and_never_looked_up(
    app: Flask, twilio: Twilio, hosts: Hosts, node: str, lookup: str
) -> None:
    twilio.post("/voice/incoming", call_params())
    for n, value in enumerate([*HOSTILE, *REFUSED, "1" * 5000, "12#34", "0x1F#", "１２３４５#"]):
        form = call_params(CallStatus="in-progress", Digits=value, SpeechResult=value)
        doc = answered(twilio.post(f"/voice/input/{node}?s={n + 1}&a=0&lang=en", form))
        if "\x00" in value:
            assert doc is None, value  # a NUL never comes from a phone: 400
            continue
        assert doc is not None and doc.said(), value  # told to try again, in words
    assert hosts.asked["shop"] == []  # nothing that is not a number reached the shop
    with app.app_context():
        events = db.session.scalars(select(CallEvent).order_by(CallEvent.id)).all()
        kinds = {e.kind for e in events}
        assert f"{lookup}_lookup" not in kinds
        typed = [e.detail["digits"] for e in events if e.kind in ("invalid_input", "keys")]
        assert "'; DROP TABLE calls; --" in typed and "１２３４５#" in typed
    tables_hold(app, calls=1)


def test_recording_sids_and_urls_cannot_reach_files_or_other_hosts(
    app: Flask, twilio: Twilio, hosts: Hosts, tmp_path: Path
) -> None:
    twilio.post("/voice/incoming", call_params())
    recorded = "/voice/voicemail/recorded?node=message&lang=zh&s=3"
    for n, bad_sid in enumerate(["../../etc/passwd", "RE../../../../tmp/x", "RE" + "%2e" * 10,
                                 "RE" + "1" * 31 + "/", "<script>alert(1)</script>"]):  # fmt: skip
        form = call_params(CallStatus="in-progress", RecordingSid=bad_sid, Digits="#",
                           RecordingUrl=f"{hosts.twilio}/Recordings/{n}")  # fmt: skip
        assert answered(twilio.post(recorded, form)) is None  # 400: never a message row
    twilio_host, elsewhere_host = (
        url.removeprefix("http://") for url in (hosts.twilio, hosts.elsewhere)
    )
    urls = {
        f"{hosts.elsewhere}/2010-04-01/Recordings/RE1": "is not Twilio's",
        f"http://{twilio_host}@{elsewhere_host}/x": "is not Twilio's",
        "https://api.twilio.com.evil.example/2010-04-01/x": "is not Twilio's",
        'https://"><script>alert(1)</script>/x': "is not Twilio's",
        "file:///etc/passwd": None,  # not even taken as a recording URL
        # Twilio's own host answering with a redirect elsewhere: not followed.
        f"{hosts.twilio}/../../../../etc/passwd": "answered HTTP 302",
        f"{hosts.twilio}/2010-04-01/Recordings/RE1": "answered HTTP 302",
    }
    for n, url in enumerate(urls):
        form = call_params(CallStatus="in-progress", RecordingSid=f"RE{n:032d}", Digits="#",
                           RecordingUrl=url)  # fmt: skip
        answered(twilio.post(recorded, form))
    assert work(app, burst=True) == sum(reason is not None for reason in urls.values())
    assert hosts.asked["elsewhere"] == []  # the worker asked no one but Twilio
    with app.app_context():
        messages = {m.recording_url: m for m in db.session.scalars(select(Voicemail))}
    for url, reason in urls.items():
        if reason is None:
            assert url not in messages
            continue
        message = messages[url]
        assert message.status == VoicemailStatus.FAILED, url
        assert message.status_reason.startswith("gave up after 1 attempt(s)"), url
        assert reason in message.status_reason, (url, message.status_reason)
        assert message.audio_path is None
    assert outside_data(tmp_path, Path(app.config["HOTLINE_DATA_DIR"])) == []
    tables_hold(app, calls=1, voicemails=len(urls) - 1)
