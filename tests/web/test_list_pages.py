"""Lists that page and sort (issue #17, point 1): the inbox, the call log, the quality and audit
pages page by cursors that keep their filters and sort, show totals, and find partial case and
phone numbers; masked agents find numbers only by the digits they see."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert

from ivr.audit import audit
from ivr.clock import utcnow
from ivr.database import db
from ivr.models import Call, Role
from ivr.queues.agents import create_agent
from tests.factories import sign_in
from voicemail.models import CaseStatus, Voicemail

PROMISE = timedelta(minutes=15)  # the test menu's reply promise


@pytest.fixture
def readers(app: Flask) -> None:
    """Li, an agent who sees numbers masked; Zhang, a supervisor who sees them whole."""
    with app.app_context():
        create_agent(db.session, "li", password="correct horse")
        create_agent(db.session, "zhang", password="correct horse", role=Role.SUPERVISOR)
        db.session.commit()


def add_messages(app: Flask, ages: list[timedelta], *, first: int = 0, **fields: str) -> list[int]:
    """Messages received ``ages`` ago (no audio: the lists need none); their ids."""
    now = utcnow()
    with app.app_context():
        rows = [
            Voicemail(
                call_sid=f"CA{first + n:032d}",
                case_number=f"{2000000 + first + n:08d}",
                recording_sid=f"RE{first + n:032d}",
                recording_url="https://api.twilio.com/x",
                created_at=now - age,
                language="zh",
                **fields,
            )
            for n, age in enumerate(ages)
        ]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


def listed(page: str, attribute: str = "data-id") -> list[str]:
    return re.findall(rf'<tr[^>]* {attribute}="([^"]+)"', page)


def link(page: str, ident: str) -> str | None:
    found = re.search(rf'<a id="{ident}" href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


def total(page: str) -> str:
    found = re.search(r'<span class="total" data-total="\d+">([^<]+)</span>', page)
    assert found, "every list shows its total"
    return found.group(1)


def walk(client: FlaskClient, path: str, between: object = None) -> tuple[list[str], list[str]]:
    """Every row of a list, following "Next page" from ``path``; and the pages' addresses."""
    seen: list[str] = []
    addresses = [path]
    while True:
        page = client.get(addresses[-1]).get_data(as_text=True)
        seen += listed(page, "data-sid" if path.startswith("/calls") else "data-id")
        if callable(between):
            between()
        if (older := link(page, "older")) is None:
            return seen, addresses
        addresses.append(older)


def test_the_inbox_pages_with_its_filters_and_misses_nothing_while_messages_arrive(
    app: Flask, client: FlaskClient, readers: None
) -> None:
    product = add_messages(app, [timedelta(minutes=n) for n in range(0, 240, 2)],
                           category="product")  # fmt: skip
    add_messages(app, [timedelta(minutes=n) for n in range(1, 120, 2)], first=500,
                 category="delivery")  # fmt: skip
    sign_in(client, "li")
    first = client.get("/inbox?topic=product").get_data(as_text=True)
    assert total(first) == "120 in all" and link(first, "newer") is None
    arrived = iter(range(1000, 1100))

    def a_new_message() -> None:
        add_messages(app, [timedelta(0)], first=next(arrived), category="product")

    seen, addresses = walk(client, "/inbox?topic=product", a_new_message)
    assert [int(i) for i in seen] == product  # newest first, each once
    assert len(addresses) == 3 and all("topic=product" in a for a in addresses[1:])
    last = client.get(addresses[-1]).get_data(as_text=True)
    assert total(last) == "123 in all"  # the three that arrived meanwhile count
    # Back from the last page: exactly the page before it, not the newest 50.
    back = client.get(link(last, "newer") or "").get_data(as_text=True)
    assert [int(i) for i in listed(back)] == product[50:100]


def test_overdue_messages_most_overdue_first_in_hours_and_days(
    app: Flask, client: FlaskClient, readers: None
) -> None:
    late = [PROMISE + timedelta(minutes=m) for m in (5, 90, 26 * 60 + 10, 1565)]
    ids = add_messages(app, [*late, timedelta(minutes=1)], category="product")
    with app.app_context():
        db.session.get(Voicemail, ids[1]).case_status = CaseStatus.ANSWERED  # type: ignore[union-attr]
        db.session.commit()
    sign_in(client, "li")
    page = client.get("/inbox?overdue=1").get_data(as_text=True)
    assert [int(i) for i in listed(page)] == [ids[2], ids[3], ids[0]]
    due = [re.sub(r"\s+", " ", d).strip() for d in re.findall(r'class="due"[^>]*>(.*?)</td>', page,
                                                                re.S)]  # fmt: skip
    assert due == ["1 d 2 h overdue", "1 d 2 h overdue", "5 min overdue"]
    everything = client.get("/inbox").get_data(as_text=True)
    assert [int(i) for i in listed(everything)] == [ids[4], ids[0], ids[1], ids[3], ids[2]]
    assert (
        re.search(r"1[34] min left", everything) and "1 h overdue" not in everything
    )  # answered: no clock
    # Sorted by the reply due: the oldest promise first, whatever the tab.
    assert [int(i) for i in listed(client.get("/inbox?sort=due").get_data(as_text=True))] == [
        ids[2], ids[3], ids[1], ids[0], ids[4]]  # fmt: skip
    zh = {"Accept-Language": "zh"}
    chinese = client.get("/inbox?overdue=1", headers=zh).get_data(as_text=True)
    assert "已超时 1 天 2 小时" in chinese and "已超时 5 分钟" in chinese and "共 3 条" in chinese


def test_partial_case_numbers_and_phone_numbers_find_messages(
    app: Flask, client: FlaskClient, readers: None
) -> None:
    [first] = add_messages(app, [timedelta(minutes=1)], from_number="+8613800138000")
    [second] = add_messages(app, [timedelta(minutes=2)], first=7, from_number="+8613912345678")
    [short] = add_messages(app, [timedelta(minutes=3)], first=9, from_number="+86108000")

    def found(reader: FlaskClient, words: str) -> list[int]:
        page = reader.get(f"/inbox?q={quote(words)}").get_data(as_text=True)
        return [int(i) for i in listed(page)]

    sign_in(client, "zhang")  # sees numbers whole
    assert found(client, "000007") == [second]  # part of case 02000007
    assert found(client, "138001") == [first]
    assert found(client, "8000") == [first, short]
    assert found(client, "+86 139-1234") == [second]
    masked = client.application.test_client()
    sign_in(masked, "li")  # sees +86 138****8000
    assert found(masked, "000007") == [second]
    assert found(masked, "138001") == []  # hidden digits find nothing
    assert found(masked, "1234") == []
    assert found(masked, "8000") == [first]  # the end shown, on numbers that show their end
    assert found(masked, "5678") == [second]
    assert found(masked, "+86 138 0013 8000") == [first]  # a whole number
    assert found(masked, "+86108000") == [short]


def test_the_call_log_pages_sorts_and_counts(
    app: Flask, client: FlaskClient, readers: None
) -> None:
    start = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    with app.app_context():
        db.session.add_all(
            Call(
                sid=f"CA{n:032d}",
                from_number=f"+86138{n:08d}",
                status="completed",
                outcome="self_service" if n % 3 else "abandoned",
                started_at=start + timedelta(minutes=n // 2),  # two calls a minute
            )
            for n in range(250)
        )
        db.session.commit()
    sign_in(client, "zhang")
    seen, addresses = walk(client, "/calls?outcome=self_service&sort=oldest")
    expected = [f"CA{n:032d}" for n in range(250) if n % 3]
    assert seen == expected and len(addresses) == 2
    assert "sort=oldest" in addresses[1] and "outcome=self_service" in addresses[1]
    assert total(client.get("/calls").get_data(as_text=True)) == "250 in all"
    newest, _ = walk(client, "/calls")
    assert newest == [f"CA{n:032d}" for n in reversed(range(250))]
    # A cursor made for another sort, or not made here, starts again from the top.
    older = link(client.get("/calls").get_data(as_text=True), "older") or ""
    again = client.get(older + "&sort=oldest").get_data(as_text=True)
    assert listed(again, "data-sid")[0] == f"CA{0:032d}"
    for cursor in ("x", "%FF%FE", "c3R8MTAw", "bmV3ZXN0fDk5OTktMTItMzFUMDA6MDA6MDArMDA6MDB8MQ"):
        reply = client.get(f"/calls?after={cursor}")
        assert reply.status_code == 200, cursor


def test_the_audit_log_pages_back_and_forth(app: Flask, client: FlaskClient, readers: None) -> None:
    with app.app_context():
        for n in range(130):
            audit("agent_created", actor="cli", target=f"agent:a{n}")
        db.session.commit()
    sign_in(client, "zhang")
    first = client.get("/audit?action=agent_created").get_data(as_text=True)
    assert total(first) == "130 in all" and link(first, "newer") is None
    older = link(first, "older") or ""
    assert "action=agent_created" in older
    second = client.get(older).get_data(as_text=True)
    assert second.count('data-action="agent_created"') == 30 and link(second, "older") is None
    back = client.get(link(second, "newer") or "").get_data(as_text=True)
    assert listed(back, "data-action") == listed(first, "data-action")
    assert re.findall(r"agent:a\d+", back) == re.findall(r"agent:a\d+", first)


def test_a_long_search_counts_up_to_two_hundred(
    app: Flask, client: FlaskClient, readers: None
) -> None:
    with app.app_context():
        db.session.execute(
            insert(Call),
            [{"sid": f"CA{n:032d}", "from_number": f"+86139{n:04d}8000", "status": "completed",
              "started_at": utcnow() - timedelta(minutes=n)} for n in range(201)],
        )  # fmt: skip
        db.session.commit()
    sign_in(client, "zhang")
    found = client.get("/calls?number=8000").get_data(as_text=True)
    assert total(found) == "More than 200" and len(listed(found, "data-sid")) == 100
    assert total(client.get("/calls").get_data(as_text=True)) == "201 in all"
    zh = client.get("/calls?number=8000", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert total(zh) == "超过 200 条"
