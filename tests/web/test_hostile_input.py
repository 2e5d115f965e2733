"""Hostile callers' values and agents' notes on every page: shown as text, exported as inert data.

The values arrive as a caller would send them (signed webhooks) or an agent would type them (the
note form); each page is parsed as a browser would, and must hold no element the values injected.
"""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser
from sqlalchemy import select

from ivr.database import db
from ivr.models import Role
from ivr.queues.agents import create_agent
from tests.conftest import Twilio
from tests.factories import CHROMIUM, call_params, csrf, sign_in
from voicemail.models import Note, Voicemail, VoicemailStatus

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
SVG = "<svg/onload=alert(1)>"
FRAME = "'><iframe src=javascript:alert(1)>"
SQL = "'; DROP TABLE calls; --"
FORMULAS = ['=HYPERLINK("http://x.example","x")', "+cmd|' /C calc'!A0", "-2+3+cmd|'/C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1"]  # fmt: skip
CALLERS = [SCRIPT, IMG, SVG, FRAME, SQL, "../../etc/passwd", "\u202eevil 👋🏽 مرحبا", *FORMULAS]
NOTES = [SCRIPT, IMG, "</textarea><script>alert(1)</script>", "{{ 7*7 }}", SQL, "=1+1"]
TRANSCRIPT = f"{SVG} 退货 {FRAME}"


class Elements(HTMLParser):
    """Every element of a page with its attributes, and the text a reader sees."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.inline_script = ""
        self.text: list[str] = []
        self._in_script = False
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline_script += data
        else:
            self.text.append(data)


def assert_inert(page: str, *shown: str) -> None:
    """The page holds only its own elements, and shows each of ``shown`` as text."""
    parsed = Elements(page)
    tags = [tag for tag, _ in parsed.elements]
    assert not {"img", "iframe", "object", "embed"} & set(tags)
    # The charts' own (_chart.html): an axis and a plot.
    assert all(attrs.get("class") in ("y-axis", "area") for tag, attrs in parsed.elements
               if tag == "svg")  # fmt: skip
    assert all(attrs.get("src") for tag, attrs in parsed.elements if tag == "script")
    assert parsed.inline_script.strip() == ""
    handlers = [
        (tag, name) for tag, attrs in parsed.elements for name in attrs if name.startswith("on")
    ]
    assert handlers == []
    text = "".join(parsed.text)
    for value in shown:
        assert value in text, value


def csv_rows(client: FlaskClient, path: str) -> list[list[str]]:
    reply = client.get(path)
    assert reply.status_code == 200
    return list(csv.reader(io.StringIO(reply.get_data(as_text=True).lstrip("\ufeff"))))


@pytest.fixture
def hostile(app: Flask, twilio: Twilio) -> dict[str, int]:
    """Calls from hostile numbers that pressed hostile keys and left messages; ids by number."""
    with app.app_context():
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        db.session.commit()
    for n, value in enumerate(CALLERS):
        call = {"CallSid": f"CA{n:032d}", "From": value, "CallerName": value}
        assert twilio.post("/voice/incoming", call_params(**call)).status_code == 200
        keys = call_params(**call, CallStatus="in-progress", Digits=value, SpeechResult=value)
        assert twilio.post("/voice/input/delivery?s=1&a=0&lang=en", keys).status_code == 200
        rec = f"RE{n:032d}"
        recorded = call_params(**call, CallStatus="in-progress", RecordingSid=rec, Digits="#",
                               RecordingUrl=f"https://api.twilio.com/x/{rec}")  # fmt: skip
        reply = twilio.post("/voice/voicemail/recorded?node=message&lang=zh&s=2", recorded)
        assert reply.status_code == 200
    with app.app_context():
        messages = db.session.scalars(select(Voicemail).order_by(Voicemail.id)).all()
        # As the worker leaves them: a transcript (with timed words), and a reason for a failure.
        for message in messages[::2]:
            message.status = VoicemailStatus.TRANSCRIBED
            message.transcript = TRANSCRIPT
            message.words = [{"word": w, "start": i * 0.5, "end": i * 0.5 + 0.4, "conf": 0.4}
                             for i, w in enumerate(TRANSCRIPT.split())]  # fmt: skip
        for message in messages[1::2]:
            message.status = VoicemailStatus.FAILED
            message.status_reason = f"recording URL host {IMG!r} is not Twilio's"
        db.session.commit()
        return {m.from_number: m.id for m in messages}


def test_every_page_shows_hostile_values_as_text(
    app: Flask, client: FlaskClient, hostile: dict[str, int]
) -> None:
    sign_in(client, "zhang")
    ident = hostile[SCRIPT]
    token = csrf(client, f"/inbox/{ident}")
    for body in NOTES:
        reply = client.post(f"/inbox/{ident}/notes", data={"body": body, "csrf_token": token})
        assert reply.status_code == 302
    nul = client.post(f"/inbox/{ident}/notes", data={"body": "a\x00b", "csrf_token": token})
    assert nul.status_code == 400  # PostgreSQL's text cannot hold it: refused on every database
    with app.app_context():
        kept = db.session.scalars(select(Note.body).order_by(Note.id)).all()
    assert kept == NOTES  # verbatim

    inbox = client.get("/inbox").get_data(as_text=True)
    assert_inert(inbox, *[v.strip() for v in CALLERS], TRANSCRIPT)
    message = client.get(f"/inbox/{ident}").get_data(as_text=True)
    assert_inert(message, SCRIPT, *NOTES, *TRANSCRIPT.split())
    failed = client.get(f"/inbox/{hostile[IMG]}").get_data(as_text=True)
    # The worker's reason is for the logs; the page says why in the reader's words.
    assert_inert(failed, "Transcription failed.")
    calls = client.get("/calls").get_data(as_text=True)
    assert_inert(calls, *[v.strip() for v in CALLERS])
    timeline = client.get(f"/calls/CA{1:032d}").get_data(as_text=True)
    assert_inert(timeline, f"Pressed {IMG}: not an option", f"Called from {IMG}")
    for path, query in [
        ("/inbox", {"q": SCRIPT, "topic": IMG, "language": SQL, "call": FRAME}),
        ("/calls", {"number": IMG, "topic": SCRIPT, "agent": SQL, "date": FRAME}),
        ("/figures", {"from": SCRIPT, "to": IMG}),
        ("/board", {}),
    ]:
        reply = client.get(path, query_string=query)
        assert reply.status_code == 200, path
        assert_inert(reply.get_data(as_text=True))
    # The search box and filters give back what was typed, as text in their value attributes.
    searched = Elements(client.get("/inbox", query_string={"q": IMG}).get_data(as_text=True))
    [box] = [attrs for tag, attrs in searched.elements if tag == "input" and attrs["name"] == "q"]
    assert box["value"] == IMG


def test_csv_exports_never_start_a_cell_with_a_formula(
    app: Flask, client: FlaskClient, hostile: dict[str, int]
) -> None:
    with app.app_context():
        message = db.session.get(Voicemail, hostile[SCRIPT])
        assert message is not None
        message.transcript = "=1+1 退货"
        db.session.commit()
    sign_in(client, "zhang")
    calls = csv_rows(client, "/export/calls.csv")
    messages = csv_rows(client, "/export/messages.csv")
    for rows in (calls, messages):
        for cell in (cell for row in rows for cell in row):
            assert (
                not cell.startswith(("=", "+", "-", "@", "\t", "\r")) or cell.lstrip("+-").isdigit()
            ), cell
    # Neutralised with a leading apostrophe, the value otherwise as the caller sent it.
    assert {row[1] for row in calls[1:]} >= {"'" + value for value in FORMULAS}
    assert {row[3] for row in messages[1:]} >= {"'" + value for value in FORMULAS}
    assert "'=1+1 退货" in {row[-1] for row in messages[1:]}
    # Phone numbers and plain numbers are left as they are.
    assert calls[1][2] == "+864008001234"


@pytest.mark.parametrize(
    "path",
    ["/inbox?q=a%00b", "/inbox?topic=%00", "/calls?number=%00", "/calls/CA%00", "/figures?day=%00"],
)
def test_a_nul_in_the_address_is_a_clear_400(
    client: FlaskClient, hostile: dict[str, int], path: str
) -> None:
    sign_in(client, "zhang")
    reply = client.get(path)
    assert reply.status_code == 400  # PostgreSQL's text cannot hold it; never a 500
    assert "NUL" in reply.get_data(as_text=True)


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_a_browser_runs_no_injected_script(
    app: Flask, live_server: str, browser: Browser, hostile: dict[str, int]
) -> None:
    dialogs: list[str] = []
    page = browser.new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.add_init_script("window.INBOX_REFRESH_MS = 200")
    page.goto(f"{live_server}/login")
    page.fill("input[name=name]", "zhang")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.wait_for_selector("tr[data-id]")
    page.wait_for_timeout(600)  # the inbox refreshes its rows from the server meanwhile
    assert page.locator("img, iframe").count() == 0
    page.goto(f"{live_server}/inbox/{hostile[SCRIPT]}")
    page.fill("textarea[name=body]", IMG)
    page.click("text=Add note")
    page.wait_for_selector(".notes li")
    assert page.locator(".notes li").inner_text().endswith(IMG)
    assert page.locator("#transcript .word").count() == len(TRANSCRIPT.split())
    assert page.locator("img, iframe, svg").count() == 0
    assert dialogs == []
