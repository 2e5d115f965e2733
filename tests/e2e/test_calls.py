"""Whole calls through the offline Twilio over real HTTP, read back through the API."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.database import db
from ivr.models import Order
from ivr.simulator import Caller, Simulator, parse_script
from tests.factories import auth, make_token

ZH, EN = "cmn-CN", "en-US"


def call(phone: Simulator, keys: str, number: str = "+8613800138000"):
    result = phone.call(Caller(number=number, script=parse_script(keys)))
    assert result.errors == [], result.transcript_text()
    assert all(r.status < 500 for r in result.requests), result.requests
    return result


def api_call(app: Flask, client: FlaskClient, sid: str) -> dict:
    reply = client.get(f"/api/v1/calls/{sid}", headers=auth(make_token(app)))
    assert reply.status_code == 200
    return reply.json


def languages_after_choice(result) -> set[str]:
    """The languages the caller heard after the bilingual language prompt."""
    spoken = [line for line in result.transcript if line.kind == "say"]
    return {line.language for line in spoken[2:]}


@pytest.mark.parametrize(
    ("lang_key", "language", "voice_language"), [("1", "zh", ZH), ("2", "en", EN)]
)
@pytest.mark.parametrize(
    ("option", "node"),
    [
        ("1", "product"),
        ("2", "delivery"),
        ("3", "payment"),
        ("4", "after_sales"),
        ("5", "case_status"),
        ("9", "message"),
        ("0", "agent"),
    ],
)
def test_every_menu_option_in_both_languages(
    app: Flask,
    client: FlaskClient,
    phone: Simulator,
    lang_key: str,
    language: str,
    voice_language: str,
    option: str,
    node: str,
) -> None:
    result = call(phone, f"{lang_key} {option} hangup")
    assert languages_after_choice(result) == {voice_language}, result.transcript_text()
    record = api_call(app, client, result.sid)
    assert record["language"] == language
    assert record["menu_path"][:3] == ["language", "main", node]
    assert record["status"] == "completed"
    assert record["ended_at"] is not None
    assert record["duration"] == result.duration


def test_silence_everywhere_still_reaches_someone(
    app: Flask, client: FlaskClient, phone: Simulator
) -> None:
    result = call(phone, ". . . . hangup")
    said = result.said()
    assert "抱歉，没有收到您的按键。" in said
    assert "我们为您转接。" in said
    record = api_call(app, client, result.sid)
    assert record["menu_path"][:3] == ["language", "main", "agent"]
    kinds = [e["kind"] for e in record["events"]]
    assert kinds.count("no_input") == 4  # one at the language choice, three at the menu


def test_wrong_keys_then_star_then_order_status(
    app: Flask, client: FlaskClient, phone: Simulator
) -> None:
    with app.app_context():
        db.session.add(Order(number="2026112401", status="out_for_delivery", carrier="SF Express"))
        db.session.commit()
    result = call(phone, "2 7 * 2 2026112401# hangup", number="+14155550100")
    said = result.said(EN)
    assert "Sorry, that is not one of the options." in said
    assert "Order 2 0 2 6 1 1 2 4 0 1: out for delivery today." in said
    assert "Carrier: SF Express." in said
    record = api_call(app, client, result.sid)
    assert record["outcome"] == "self_service"
    assert [e["kind"] for e in record["events"]].count("repeat") == 1


def test_replayed_webhooks_do_not_double_anything(
    app: Flask, client: FlaskClient, phone: Simulator
) -> None:
    phone.replay = True
    result = call(phone, "1 5 12345678# hangup")
    record = api_call(app, client, result.sid)
    kinds = [e["kind"] for e in record["events"]]
    assert kinds.count("incoming") == 1
    assert kinds.count("case_lookup") == 1
    assert kinds.count("status") == 1
    listing = client.get("/api/v1/calls", headers=auth(make_token(app, "other"))).json["data"]
    assert [c["sid"] for c in listing] == [result.sid]
