"""Every page in the reader's language: no raw key (snake_case) on any page or CSV header, and no
English on a Chinese page, for a supervisor and an agent, over a day the demo played."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import available_timezones

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import create_app
from ivr.database import db
from ivr.models import Agent, CallEvent, Role
from ivr.queues.agents import create_agent
from ivr.queues.distribution import stop_distributor
from tests.conftest import Twilio, free_port, settings
from tests.factories import CSRF, SID, add_message, call_params, csrf, invoke, sign_in
from tests.pages import csv_header, page_urls, read_pages, visible_text
from voicemail.models import ConversationRecording, Voicemail, VoicemailStatus
from voicemail.quality_checks import check_conversation

SIGN_IN = re.compile(r"^\s+(\w+)\s+(\S+)\s+(supervisor|agent)$", re.MULTILINE)
# The machine-facing endpoints: Twilio's and other programs' (their keys are an interface).
MACHINES = ("api.", "voicemail_api.", "health.", "metrics.", "auth.language")


def a_conversation(app: Flask, sid: str) -> None:
    """A recorded conversation with its quality check (the demo's calls record none)."""
    with app.app_context():
        agent = db.session.scalar(select(Agent).where(Agent.name == "li"))
        assert agent is not None
        turns = [{"speaker": "agent", "start": 0.0, "end": 1.0, "text": "您好", "words": []},
                 {"speaker": "customer", "start": 1.0, "end": 2.0, "text": "我要退货", "words": []}]  # fmt: skip
        recording = ConversationRecording(
            call_sid=sid, agent_id=agent.id, queue="after_sales-zh", language="zh",
            from_number="+8613800000007", recording_sid="RE" + "7" * 32,
            status=VoicemailStatus.TRANSCRIBED, started_at=datetime.now(UTC), turns=turns,
            transcript="您好 我要退货",
        )  # fmt: skip
        db.session.add(recording)
        db.session.commit()
        check_conversation(db.session, recording, alert=False)


def examples(app: Flask) -> dict[str, object]:
    """One value for each URL argument: the call with most events, a message, an agent."""
    with app.app_context():
        busiest = db.session.execute(
            select(CallEvent.call_id, func.count())
            .group_by(CallEvent.call_id)
            .order_by(func.count().desc())
        ).first()
        from ivr.models import Call

        call = db.session.get(Call, busiest[0]) if busiest else None
        message = db.session.scalar(select(Voicemail.id).order_by(Voicemail.id))
        agent = db.session.scalar(select(Agent.id).where(Agent.name == "li"))
    return {"sid": call.sid if call else "", "message_id": message, "agent_id": agent, "name": "li"}


def demo_day(app: Flask) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str]]]:
    """The demo's day played into ``app`` (with a recorded conversation on the busiest call):
    who signs in ({name: (password, role)}) and every page a person opens ([(endpoint, url)])."""
    app.config["HOTLINE_ENV"] = "development"  # the demo refuses production
    played = invoke(app, "demo", "--calls", "24", "--seed", "3")
    assert played.exit_code == 0, played.output
    people = {name: (password, role) for name, password, role in SIGN_IN.findall(played.output)}
    example = examples(app)
    a_conversation(app, str(example["sid"]))  # on the call page the crawl reads
    urls = [(e, url) for e, url in page_urls(app, example) if not e.startswith(MACHINES)]
    return people, urls


def reader(app: Flask, name: str, password: str, language: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    client.environ_base["HTTP_ACCEPT"] = "text/html,*/*"  # as a browser asks
    assert sign_in(client, name, password).status_code == 302
    client.get(f"/language/{language}")
    return client


@pytest.mark.slow
@pytest.mark.postgres
def test_every_page_reads_in_the_readers_language(app: Flask) -> None:
    people, urls = demo_day(app)
    assert len(urls) >= 20, urls
    # What people and the data call themselves may be in Latin letters; so may IANA zone names
    # on /me (a searchable list of them is another point of the issue).
    zones = {part for zone in available_timezones() for part in re.split(r"[/_0-9]", zone)}
    # The audit filter's example is the syntax one types (agent:ana, token:crm).
    allowed = set(people) | {"CA", "RE", "agent", "ana", "token", "crm"} | zones
    for name in ("demo", "li"):
        for language in ("zh", "en"):
            client = reader(app, name, people[name][0], language)
            wrong = read_pages(client, urls, language == "zh", allowed)
            assert not wrong, f"{name} reading {language}: {wrong}"


def test_error_pages_are_pages_in_the_readers_language(app: Flask, agent: str) -> None:
    client = reader(app, agent, "correct horse", "zh")
    for path, code in (("/agents", 403), ("/nowhere", 404), ("/inbox/99999", 404)):
        reply = client.get(path)
        assert reply.status_code == code and reply.mimetype == "text/html"
        shown = visible_text(reply.get_data(as_text=True))
        assert not read_pages(client, [("", path)], True, {agent}), shown
        assert any(re.search("[\u4e00-\u9fff]", piece) for piece in shown)
        assert "退出" in " ".join(shown)  # in the app's layout, signed in
    wrong_method = client.get("/logout")
    assert wrong_method.status_code == 405 and "无法这样打开" in wrong_method.get_data(as_text=True)
    # Machines still get plain text.
    plain = app.test_client().get("/nowhere")
    assert plain.status_code == 404 and plain.mimetype == "text/plain"


def test_the_call_timeline_reads_as_sentences(app: Flask, agent: str, twilio: Twilio) -> None:
    twilio.post("/voice/incoming", call_params())
    twilio.post("/voice/input/language?s=1&a=0", call_params(Digits="1"))
    twilio.post("/voice/input/main?s=2&a=0&lang=zh", call_params(Digits="2"))
    twilio.post("/voice/status", call_params(CallStatus="completed", CallDuration="192"))
    client = reader(app, agent, "correct horse", "zh")
    shown = visible_text(client.get(f"/calls/{SID}").get_data(as_text=True))
    assert "按了 1 键，选择中文" in shown
    assert "按了 2 键，选择物流查询" in shown
    assert "通话已结束，共 3 分 12 秒" in shown
    assert "语言选择 › 主菜单 › 物流查询" in shown


def test_csv_headers_are_in_the_readers_language_and_scripts_ask_for_keys(
    app: Flask, agent: str
) -> None:
    with app.app_context():
        create_agent(db.session, "boss", password="correct horse", role=Role.SUPERVISOR)
        db.session.commit()
    for language, first in (("zh", ["通话编号", "来电号码"]), ("en", ["Call ID", "Caller number"])):
        client = reader(app, "boss", "correct horse", language)
        assert csv_header(client.get("/export/calls.csv").get_data(as_text=True))[:2] == first
    keys = client.get("/export/calls.csv?header=keys").get_data(as_text=True)
    assert csv_header(keys)[:4] == ["sid", "from", "to", "started_at"]


def test_an_alert_with_no_channel_says_so_in_the_readers_language(app: Flask, agent: str) -> None:
    ident = add_message(app)
    client = reader(app, agent, "correct horse", "zh")
    token = csrf(client, f"/inbox/{ident}")
    reply = client.post(f"/inbox/{ident}/alert", data={"csrf_token": token}, follow_redirects=True)
    shown = visible_text(reply.get_data(as_text=True))
    assert "无法通知主管：没有设置提醒渠道" in shown, shown
    assert not read_pages(client, [("", f"/inbox/{ident}")], True, {agent})


def test_a_server_error_is_a_translated_page(tmp_path: Path) -> None:
    # The database is down: signing in fails on the server's side.
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/hotline?connect_timeout=2"
    down = create_app(settings(tmp_path, url))
    try:
        client = down.test_client()
        client.environ_base.update(HTTP_ACCEPT_LANGUAGE="zh", HTTP_ACCEPT="text/html")
        token = CSRF.search(client.get("/login").get_data(as_text=True))
        assert token
        reply = client.post("/login", data={"name": "li", "password": "correct horse",
                                            "csrf_token": token.group(1)})  # fmt: skip
        assert reply.status_code == 500 and reply.mimetype == "text/html"
        shown = visible_text(reply.get_data(as_text=True))
        assert "系统出现问题，请稍后再试。" in shown
        assert "psycopg" not in reply.get_data(as_text=True)
    finally:
        stop_distributor(down)
