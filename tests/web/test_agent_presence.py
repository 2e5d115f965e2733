"""Presence that tells the truth in the web app: away on sign-out, shown with how long; and the
supervisors' figures per agent and queue with their CSVs."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import Agent, Call, Presence, PresenceChange, Role
from ivr.queues.agents import create_agent, set_presence
from ivr.queues.entries import bridge, conversation_over, enter, leg_ended, offer
from tests.factories import csrf, sign_in


def people(app: Flask) -> None:
    with app.app_context():
        li = create_agent(db.session, "li", password="correct horse", phone="+8613900000001",
                          languages=["zh"], topics=["general"])  # fmt: skip
        set_presence(li, Presence.AVAILABLE)
        create_agent(db.session, "wang", password="correct horse", phone="+8613900000002",
                     languages=["zh"], topics=["general"])  # fmt: skip
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        db.session.commit()


def row_of(app: Flask, name: str) -> Agent:
    with app.app_context():
        agent = db.session.scalars(select(Agent).where(Agent.name == name)).one()
        db.session.expunge(agent)
        return agent


def last_reason(app: Flask, name: str) -> str:
    with app.app_context():
        return db.session.scalars(
            select(PresenceChange.reason)
            .join(Agent, Agent.id == PresenceChange.agent_id)
            .where(Agent.name == name)
            .order_by(PresenceChange.id.desc())
        ).first()


def presence_cell(page: str, name: str) -> str:
    match = re.search(rf'<tr data-agent="{name}"[^>]*>.*?<span class="presence-now"[^>]*>(.*?)</span>',
                      page, re.S)  # fmt: skip
    assert match, page
    return match.group(1)


def test_signing_in_keeps_when_the_session_ends_and_signing_out_sets_away(
    app: Flask, client: FlaskClient
) -> None:
    people(app)
    before = utcnow()
    sign_in(client, "li")
    expires = row_of(app, "li").session_expires_at
    lifetime = app.config["PERMANENT_SESSION_LIFETIME"]
    assert before + lifetime - timedelta(seconds=2) <= expires <= utcnow() + lifetime
    assert row_of(app, "li").presence == Presence.AVAILABLE
    client.post("/logout", data={"csrf_token": csrf(client, "/board")})
    li = row_of(app, "li")
    assert li.presence == Presence.AWAY and li.session_expires_at is None
    assert last_reason(app, "li") == "signed_out"


def test_a_password_reset_signs_the_agent_out_and_away(app: Flask, client: FlaskClient) -> None:
    people(app)
    sign_in(client, "zhang")
    li = row_of(app, "li")
    reply = client.post(f"/agents/{li.id}/password",
                        data={"password": "new horse staple", "csrf_token": csrf(client, "/agents")})  # fmt: skip
    assert reply.status_code == 302
    assert row_of(app, "li").presence == Presence.AWAY
    assert last_reason(app, "li") == "signed_out"


def test_the_board_and_the_agents_page_show_presence_why_and_how_long(
    app: Flask, client: FlaskClient
) -> None:
    people(app)
    with app.app_context():
        li = db.session.scalars(select(Agent).where(Agent.name == "li")).one()
        set_presence(li, Presence.BUSY)
        db.session.commit()
        # li went busy 12 minutes ago.
        change = db.session.scalars(
            select(PresenceChange).where(PresenceChange.agent_id == li.id)
            .order_by(PresenceChange.id.desc())
        ).first()  # fmt: skip
        change.began_at = utcnow() - timedelta(minutes=12, seconds=5)
        db.session.commit()
    sign_in(client, "zhang")
    assert presence_cell(client.get("/board").get_data(as_text=True), "li") == "busy · for 12 min"
    zh = {"Accept-Language": "zh"}
    assert presence_cell(client.get("/board", headers=zh).get_data(as_text=True), "li") == (
        "忙碌 · 已 12 分钟"
    )
    live = {a["name"]: a for a in client.get("/board.json", headers=zh).json["agents"]}
    assert (live["li"]["presence"], live["li"]["text"]) == ("busy", "忙碌 · 已 12 分钟")
    page = client.get("/agents").get_data(as_text=True)
    assert presence_cell(page, "li") == "busy · for 12 min"
    # wang never chose: away since the account was made.
    assert presence_cell(page, "wang") == "away · for 0 min"


def a_shift(app: Flask) -> None:
    """li answers a caller who talks 60 s after wang let the phone ring out."""
    with app.app_context():
        li, wang = (db.session.scalars(select(Agent).where(Agent.name == n)).one()
                    for n in ("li", "wang"))  # fmt: skip
        call = Call(sid="CA" + "1" * 32, from_number="+8613800000000", to_number="+8610")
        db.session.add(call)
        db.session.flush()
        entry = enter(db.session, call, queue="general-zh", topic="general", language="zh",
                      node="q")  # fmt: skip
        entry.entered_at = utcnow() - timedelta(seconds=8)  # answered after 8 s
        set_presence(li, Presence.AWAY)
        set_presence(wang, Presence.AVAILABLE)
        offer(db.session, wang, utcnow())
        db.session.commit()
        leg_ended(db.session, entry, wang, status="no-answer", wrapup=0)
        set_presence(li, Presence.AVAILABLE)
        offer(db.session, li, utcnow())
        db.session.commit()
        bridge(db.session, call, entry, li, leg="CA" + "9" * 32)
        db.session.commit()
        conversation_over(db.session, entry, status="completed", talk=60, wrapup=0)


def test_figures_per_agent_and_queue_for_supervisors_with_csvs(
    app: Flask, client: FlaskClient
) -> None:
    people(app)
    a_shift(app)
    sign_in(client, "li")
    for path in ("/figures/agents", "/export/agents.csv", "/export/queues.csv"):
        assert client.get(path).status_code == 403, path
    client.post("/logout", data={"csrf_token": csrf(client, "/board")})
    sign_in(client, "zhang")
    page = client.get("/figures/agents").get_data(as_text=True)
    li = re.search(r'<tr data-agent="li">(.*?)</tr>', page, re.S).group(1)
    assert re.search(r'class="offered">1<.*class="answered">1<.*class="missed">0<', li, re.S)
    wang = re.search(r'<tr data-agent="wang">(.*?)</tr>', page, re.S).group(1)
    assert re.search(r'class="offered">1<.*class="answered">0<.*class="missed">1<', wang, re.S)
    agents = list(csv.DictReader(io.StringIO(
        client.get("/export/agents.csv?header=keys").get_data(as_text=True).lstrip("\ufeff"))))  # fmt: skip
    by_name = {row["agent"]: row for row in agents}
    assert (by_name["li"]["offered"], by_name["li"]["answered"], by_name["li"]["talk"]) == (
        "1", "1", "60")  # fmt: skip
    assert (by_name["wang"]["missed"], by_name["wang"]["answered"]) == ("1", "0")
    [queue] = csv.DictReader(io.StringIO(
        client.get("/export/queues.csv?header=keys").get_data(as_text=True).lstrip("\ufeff")))  # fmt: skip
    assert (queue["queue"], queue["callers"], queue["answered"], queue["missed"]) == (
        "general-zh", "1", "1", "1")  # fmt: skip
    assert (queue["average_answer"], queue["abandonment"], queue["service_level"]) == (
        "8.0", "0.0", "1.0")  # fmt: skip
    zh = client.get("/figures/agents", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    for header in ("分配次数", "已接来电", "未接", "平均应答速度", "平均话后整理", "转接"):
        assert f"<th>{header}</th>" in zh, header
    figures = client.get("/figures").get_data(as_text=True)
    assert 'id="per-agent"' in figures
