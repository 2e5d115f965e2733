"""The quality page: supervisors see every check worst first, filtered; agents only their own;
the matched words marked; flags alert a supervisor; changed rules applied by `voicemail recheck`."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app
from ivr.database import db
from ivr.models import Role
from ivr.queues.agents import create_agent
from tests.factories import invoke, sign_in
from tests.web.test_alerts import hooks, received, smtp, webhook  # noqa: F401 (fixtures)
from voicemail.models import ConversationRecording, QualityCheck, Voicemail, VoicemailStatus
from voicemail.quality_checks import check_conversation, check_message
from voicemail.quality_rules import QualityRulesError

DAY = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # 11:00 in China


def turn(speaker: str, text: str) -> dict[str, Any]:
    return {"speaker": speaker, "start": 0.0, "end": 1.0, "text": text, "words": []}


GOOD = [turn("agent", "您好，很高兴为您服务"), turn("customer", "我想问一下尺码"),
        turn("agent", "还有什么可以帮您？再见")]  # fmt: skip
BAD = [turn("agent", "喂"), turn("customer", "你们再不处理我就投诉到12315"),
       turn("agent", "这个不归我管")]  # fmt: skip


def add_agents(app: Flask) -> dict[str, int]:
    with app.app_context():
        made = {
            name: create_agent(db.session, name, password="correct horse", role=role)
            for name, role in (("boss", Role.SUPERVISOR), ("li", Role.AGENT), ("wang", Role.AGENT))
        }
        db.session.commit()
        return {name: agent.id for name, agent in made.items()}


def add_conversation(
    app: Flask, agent_id: int, turns: list[dict[str, Any]], n: int, at: datetime = DAY
) -> int:
    with app.app_context():
        recording = ConversationRecording(
            call_sid=f"CA{n:032d}", agent_id=agent_id, queue="product", language="zh",
            from_number=f"+86138000000{n:02d}", recording_sid=f"RE{n:032d}",
            status=VoicemailStatus.TRANSCRIBED, started_at=at, turns=turns,
            transcript=" ".join(t["text"] for t in turns),
        )  # fmt: skip
        db.session.add(recording)
        db.session.commit()
        check_conversation(db.session, recording, alert=False)
        return recording.id


def add_message(
    app: Flask, transcript: str, n: int, category: str = "general", at: datetime = DAY
) -> int:
    with app.app_context():
        message = Voicemail(
            call_sid=f"CA{n:032d}", case_number=f"2000{n:04d}", category=category,
            language="zh", from_number="+8613900000000", recording_sid=f"RE{n:032d}",
            recording_url="https://api.twilio.com/x", status=VoicemailStatus.TRANSCRIBED,
            transcript=transcript, created_at=at,
        )  # fmt: skip
        db.session.add(message)
        db.session.commit()
        check_message(db.session, message, alert=False)
        return message.id


@pytest.fixture
def filled(app: Flask) -> dict[str, int]:
    agents = add_agents(app)
    return {
        **agents,
        "li_good": add_conversation(app, agents["li"], GOOD, 1),
        "li_bad": add_conversation(app, agents["li"], BAD, 2),
        "wang_bad": add_conversation(app, agents["wang"], BAD[:2], 3, DAY - timedelta(days=1)),
        "message": add_message(app, "我 的 快递 还 没 到 我 要 投诉", 4),
    }


@dataclass
class Item:
    """One check as the page lists it, read from its HTML."""

    kind: str
    ident: str
    score: int
    html: str

    def marks(self, kind: str) -> list[str]:
        return [
            html.unescape(m) for m in re.findall(f'<mark class="{kind}">(.*?)</mark>', self.html)
        ]

    def tags(self) -> list[tuple[str, str]]:
        return re.findall(r'<span class="qtag [a-z]+" data-tag="(\w+)">(.*?)</span>', self.html)

    def links(self) -> list[str]:
        return re.findall(r'<a href="([^"]+)"', self.html)

    @property
    def text(self) -> str:
        return html.unescape(re.sub(r"<[^>]+>", "", self.html))


@dataclass
class Page:
    html: str

    @property
    def items(self) -> list[Item]:
        found = re.findall(
            r'<li class="check[^"]*" data-kind="(\w+)" data-id="(\d+)">(.*?)</li>', self.html, re.S
        )
        return [
            Item(kind, ident, int(re.search(r'class="score"[^>]*>(\d+)<', body).group(1)), body)  # type: ignore[union-attr]
            for kind, ident, body in found
        ]

    @property
    def text(self) -> str:
        return html.unescape(re.sub(r"<[^>]+>", "", self.html))

    def link(self, ident: str) -> str | None:
        found = re.search(f'<a id="{ident}" href="([^"]+)"', self.html)
        return html.unescape(found.group(1)) if found else None


def page(client: FlaskClient, query: str = "") -> Page:
    reply = client.get(f"/quality{query}")
    assert reply.status_code == 200
    return Page(reply.get_data(as_text=True))


def listed(shown: Page) -> list[tuple[str, str, int]]:
    return [(item.kind, item.ident, item.score) for item in shown.items]


def test_supervisor_sees_everything_worst_first_with_the_words_marked(
    client: FlaskClient, filled: dict[str, int]
) -> None:
    sign_in(client, "boss")
    shown = page(client)
    assert listed(shown) == [
        ("conversation", str(filled["li_bad"]), 10),  # complaint, no greeting or closing, forbidden
        ("conversation", str(filled["wang_bad"]), 40),
        ("message", str(filled["message"]), 70),
        ("conversation", str(filled["li_good"]), 100),
    ]
    worst, _, message, best = shown.items
    assert worst.marks("flag") == ["投诉", "12315"]
    assert worst.marks("forbidden") == ["不归我管"]
    assert [tag for tag, _ in worst.tags()] == [
        "complaint", "no_greeting", "no_closing", "forbidden_phrase"]  # fmt: skip
    assert "Customer 你们再不处理我就投诉到12315" in worst.text
    assert "Agent 这个不归我管" in worst.text
    assert worst.links() == [f"/calls/CA{2:032d}"]
    assert "· li" in worst.text
    assert message.links() == [f"/inbox/{filled['message']}"]
    assert message.marks("topic") == ["快递"]
    assert "Suggested topic: delivery" in message.text
    assert message.marks("flag") == ["投诉"]
    # A good conversation shows what the agent said right.
    assert best.marks("expected") == ["您好", "很高兴为您服务", "还有什么可以帮您", "再见"]


def test_supervisor_filters_by_tag_agent_kind_and_day(
    client: FlaskClient, filled: dict[str, int]
) -> None:
    sign_in(client, "boss")
    ids = lambda q: [i for _, i, _ in listed(page(client, q))]  # noqa: E731
    assert ids("?tag=complaint") == [
        str(filled["li_bad"]),
        str(filled["wang_bad"]),
        str(filled["message"]),
    ]
    assert ids("?tag=forbidden_phrase") == [str(filled["li_bad"])]
    assert ids("?flagged=1") == ids("?tag=complaint")  # any flag: complaint, legal, media
    assert ids("?agent=wang") == [str(filled["wang_bad"])]
    assert ids("?kind=message") == [str(filled["message"])]
    assert ids("?day=2026-11-23") == [str(filled["wang_bad"])]
    assert ids("?day=2026-11-24&agent=li&tag=no_closing") == [str(filled["li_bad"])]
    assert ids("?day=yesterday") == ids("")  # a bad date is ignored, with a word why
    assert "The date must look like" in page(client, "?day=yesterday").text


def test_an_agent_sees_only_their_own_conversations(
    client: FlaskClient, filled: dict[str, int]
) -> None:
    sign_in(client, "li")
    shown = page(client)
    assert [(k, i) for k, i, _ in listed(shown)] == [
        ("conversation", str(filled["li_bad"])),
        ("conversation", str(filled["li_good"])),
    ]
    assert 'name="agent"' not in shown.html
    # An agent without the right to see numbers sees the callers' masked.
    assert "+86138000000" not in shown.html and "****" in shown.html
    # Asking for another agent or for messages changes nothing.
    assert listed(page(client, "?agent=wang&kind=message")) == listed(shown)
    assert listed(page(client, "?tag=complaint")) == [("conversation", str(filled["li_bad"]), 10)]


def test_the_page_needs_a_sign_in(client: FlaskClient, filled: dict[str, int]) -> None:
    reply = client.get("/quality")
    assert reply.status_code == 302 and "/login" in reply.headers["Location"]


def test_pages_of_checks(app: Flask, client: FlaskClient) -> None:
    add_agents(app)
    for n in range(30):
        add_message(app, "投诉" if n % 2 else "你好", n + 10, category="product",
                    at=DAY + timedelta(minutes=n))  # fmt: skip
    sign_in(client, "boss")
    first = page(client)
    assert len(listed(first)) == 25 and first.link("newer") is None
    second = page(client, (first.link("older") or "").removeprefix("/quality"))
    assert len(listed(second)) == 5 and second.link("older") is None
    back = page(client, (second.link("newer") or "").removeprefix("/quality"))
    assert listed(back) == listed(first) and back.link("newer") is None
    scores = [s for _, _, s in listed(first) + listed(second)]
    assert scores == sorted(scores) and scores.count(70) == 15
    assert len({i for _, i, _ in listed(first) + listed(second)}) == 30


def test_the_page_in_chinese(client: FlaskClient, filled: dict[str, int]) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh"
    sign_in(client, "boss")
    shown = page(client)
    assert "<h1>质量检查</h1>" in shown.html
    worst = shown.items[0]
    assert [name for _, name in worst.tags()] == ["投诉", "未问候", "未结束语", "禁用语"]
    assert "客户 你们再不处理我就投诉到12315" in worst.text
    assert "建议主题：物流查询" in shown.items[2].text


def test_recheck_applies_changed_rules(
    app: Flask, app_settings: dict[str, Any], filled: dict[str, int], tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("flags:\n  size: [尺码]\nweights:\n  size: 5\n", encoding="utf-8")
    result = invoke(app, "voicemail", "recheck", "--rules", str(rules))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "checked 1 message(s) and 3 conversation(s)"
    with app.app_context():
        good = db.session.scalar(
            select(QualityCheck).where(QualityCheck.recording_id == filled["li_good"])
        )
        assert good.tags == ["size"] and good.score == 95
        bad = db.session.scalar(
            select(QualityCheck).where(QualityCheck.recording_id == filled["li_bad"])
        )
        assert bad.tags == [] and bad.score == 100
    rules.write_text("flags:\n  size: 尺码\n", encoding="utf-8")
    refused = invoke(app, "voicemail", "recheck", "--rules", str(rules))
    assert refused.exit_code != 0
    assert f"{rules}, line 2: flag 'size' must be a list of phrases" in refused.output


def test_the_app_refuses_to_start_with_broken_rules(
    app_settings: dict[str, Any], tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("flags:\n  complaint: [投诉]\nweights:\n  complant: 30\n", encoding="utf-8")
    with pytest.raises(
        QualityRulesError, match=re.escape(f"{rules}, line 4: weight for unknown tag 'complant'")
    ):
        create_app({**app_settings, "HOTLINE_QUALITY_RULES": str(rules)})


@pytest.fixture
def alerting(app_settings: dict[str, Any], smtp: int, webhook: str) -> None:  # noqa: F811
    app_settings.update(HOTLINE_SMTP_HOST="127.0.0.1", HOTLINE_SMTP_PORT=smtp,
                        HOTLINE_SUPERVISOR_EMAIL="lead@example.com",
                        HOTLINE_ALERT_WEBHOOK=webhook)  # fmt: skip


@pytest.mark.usefixtures("alerting")
def test_a_flagged_complaint_alerts_a_supervisor_once(app: Flask) -> None:
    agents = add_agents(app)
    ident = add_conversation(app, agents["li"], BAD, 7)
    assert received == [] and hooks == []  # stored without alerting (alert=False)
    with app.app_context():
        recording = db.session.get(ConversationRecording, ident)
        check_conversation(db.session, recording)
        check_conversation(db.session, recording)  # checked again: alerted once
        assert db.session.scalar(select(QualityCheck.alerted_at)) is not None
    [raw] = received
    mail = message_from_bytes(raw, policy=default)
    assert mail["To"] == "lead@example.com"
    assert mail["Subject"] == f"[hotline] Flagged complaint: conversation CA{7:032d} (product)"
    body = mail.get_body().get_content()  # type: ignore[union-attr]
    assert "Said: 投诉 / 12315" in body and f"/calls/CA{7:032d}" in body
    [hook] = hooks
    assert hook["flags"] == ["complaint"] and hook["recording_id"] == ident
    assert hook["kind"] == "conversation"


@pytest.mark.usefixtures("alerting")
def test_a_message_without_a_flag_alerts_nobody(app: Flask) -> None:
    add_message(app, "我 想 问 一下 尺码", 8)
    with app.app_context():
        check_message(db.session, db.session.scalars(select(Voicemail)).one())
    assert received == [] and hooks == []


def test_hostile_filters_are_answered_never_run(
    client: FlaskClient, filled: dict[str, int]
) -> None:
    sign_in(client, "boss")
    reply = client.get("/quality", query_string={
        "tag": "<script>alert(1)</script>", "agent": "' OR 1=1 --", "kind": "everything",
        "day": "2026-13-45", "page": "-3", "flagged": "yes"})  # fmt: skip
    assert reply.status_code == 200
    text = reply.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" not in text  # not echoed
    assert listed(Page(text)) == []
    assert client.get("/quality?page=99999999999999999999").status_code == 200
    assert client.get("/quality?tag=a%00b").status_code == 400
