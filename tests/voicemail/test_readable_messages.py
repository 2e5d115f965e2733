"""Readable transcripts on a message: what the worker writes, the order chips, the API, search."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.database import db
from ivr.models import Order
from tests.conftest import free_port
from tests.factories import add_message, agent, auth, invoke, make_token, sign_in
from voicemail.models import Voicemail
from voicemail.search import index_message, matching
from voicemail.transcription import transcript_from
from voicemail.worker import transcript_columns

# What the Chinese model writes for "我的订单号是二零二六一一二四零一，退款三百五十块什么时候到".
HEARD = "我 的 订单 号 是 二 零 二 六 一 一 二 四 零 一 退款 三百 五十 块 什么 时候 到"


def vosk_result(text: str) -> list[dict[str, Any]]:
    """Vosk's result for ``text``: the text and each word a quarter of a second long."""
    words = [
        {"word": w, "start": i * 0.25, "end": i * 0.25 + 0.2, "conf": 0.9}
        for i, w in enumerate(text.split())
    ]
    return [{"text": text, "result": words}]


def transcribed(app: Flask, message_id: int, heard: str = HEARD, language: str = "zh") -> None:
    """Give a message what the worker writes for ``heard`` (no Chinese model is here offline)."""
    result = transcript_from(vosk_result(heard), language=language, model_name="vosk-model-cn")
    with app.app_context():
        message = db.session.get(Voicemail, message_id)
        assert message is not None
        for name, value in transcript_columns(result).items():
            setattr(message, name, value)
        index_message(db.session, message_id, result.text)
        db.session.commit()


def with_order(app: Flask, number: str = "2026112401", status: str = "out_for_delivery") -> None:
    with app.app_context():
        db.session.add(Order(number=number, status=status, carrier="顺丰速运", eta="12月4日"))
        db.session.commit()


def chips(page: str) -> list[str]:
    """The order chips of a message page, as text."""
    found = re.findall(r'<a class="order-chip"[^>]*>(.*?)</a>', page, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", chip).split()) for chip in found]


def test_the_transcript_reads_as_written_and_the_words_stay_raw(app: Flask) -> None:
    ident = add_message(app)
    transcribed(app, ident)
    with app.app_context():
        message = db.session.get(Voicemail, ident)
        assert message is not None
        assert message.transcript == "我的订单号是2026112401退款350块什么时候到"
        assert message.raw_transcript == HEARD
        assert [w["word"] for w in message.words or []] == HEARD.split()
        assert message.words and message.words[5] == {
            "word": "二", "start": 1.25, "end": 1.45, "conf": 0.9
        }  # fmt: skip


def test_the_message_page_links_the_order_with_its_status(app: Flask, client: FlaskClient) -> None:
    with_order(app)
    agent(app)
    ident = add_message(app)
    transcribed(app, ident)
    sign_in(client)
    page = client.get(f"/inbox/{ident}", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert chips(text) == ["2026112401 派送中 · 顺丰速运 · 12月4日"]
    assert 'href="/inbox?q=2026112401"' in text
    # The words follow the audio, written together as Chinese is.
    assert '<span class="word" data-start="0.0"' in text
    assert re.search(r'>我</span><span class="word"[^>]*>的</span>', text)
    assert re.search(r'data-start="1.25" data-end="3.7\d*"[^>]*>2026112401</span>', text)


def test_the_order_links_to_the_shops_page_when_set(app: Flask, client: FlaskClient) -> None:
    app.config["ORDER_PAGE_URL"] = "http://127.0.0.1:9/admin/orders/{number}"
    with_order(app)
    agent(app)
    ident = add_message(app)
    transcribed(app, ident)
    sign_in(client)
    text = client.get(f"/inbox/{ident}").get_data(as_text=True)
    assert 'href="http://127.0.0.1:9/admin/orders/2026112401"' in text


def test_an_unknown_order_and_a_phone_number(app: Flask, client: FlaskClient) -> None:
    agent(app)
    ident = add_message(app)
    transcribed(app, ident, "订单 号 幺 二 三 四 五 六 电话 幺 三 八 零 零 一 三 八 零 零 零")
    sign_in(client)
    page = client.get(f"/inbox/{ident}", headers={"Accept-Language": "en"})
    assert chips(page.get_data(as_text=True)) == ["123456 no such order"]
    page = client.get(f"/inbox/{ident}", headers={"Accept-Language": "zh-CN"})
    assert chips(page.get_data(as_text=True)) == ["123456 查无此订单"]
    token = make_token(app)
    body = client.get(f"/api/v1/voicemails/{ident}", headers=auth(token)).json
    assert body["transcript"] == "订单号123456电话13800138000"
    assert body["orders"] == [
        {"number": "123456", "found": False, "status": None, "carrier": None, "eta": None}
    ]


@pytest.fixture
def shop_down(app_settings: dict[str, Any]) -> dict[str, Any]:
    # Nothing listens there: the lookup fails at once, as when the shop is down.
    app_settings.update(
        ORDER_LOOKUP_URL=f"http://127.0.0.1:{free_port()}/orders/{{number}}",
        ORDER_LOOKUP_TIMEOUT=0.5,
    )
    return app_settings


def test_a_failing_lookup_shows_the_number_without_status(
    shop_down: dict, app: Flask, client: FlaskClient
) -> None:
    agent(app)
    ident = add_message(app)
    transcribed(app, ident)
    sign_in(client)
    page = client.get(f"/inbox/{ident}")
    assert page.status_code == 200
    assert chips(page.get_data(as_text=True)) == ["2026112401"]
    token = make_token(app)
    body = client.get(f"/api/v1/voicemails/{ident}", headers=auth(token)).json
    assert body["orders"] == [
        {"number": "2026112401", "found": None, "status": None, "carrier": None, "eta": None}
    ]


def test_the_api_lists_the_orders_with_their_status(app: Flask, client: FlaskClient) -> None:
    with_order(app)
    ident = add_message(app)
    transcribed(app, ident)
    token = make_token(app)
    [listed] = client.get("/api/v1/voicemails", headers=auth(token)).json["data"]
    assert listed["orders"] == [
        {
            "number": "2026112401",
            "found": True,
            "status": "out_for_delivery",
            "carrier": "顺丰速运",
            "eta": "12月4日",
        }
    ]
    assert listed["transcript"] == "我的订单号是2026112401退款350块什么时候到"


def test_readable_transcripts_are_found_by_words_and_by_digits(
    app: Flask, client: FlaskClient
) -> None:
    agent(app)
    ident = add_message(app, n=1)
    other = add_message(app, n=2)
    transcribed(app, ident)
    transcribed(app, other, "快递 到 哪 了")
    sign_in(client)
    for query, found in (("订单", [ident]), ("2026112401", [ident]), ("350", [ident]),
                         ("快递", [other]), ("退款 350", [ident])):  # fmt: skip
        page = client.get("/inbox", query_string={"q": query}).get_data(as_text=True)
        shown = sorted(int(n) for n in set(re.findall(r'href="/inbox/(\d+)"', page)))
        assert shown == found, query


def test_messages_transcribed_before_are_made_readable(app: Flask) -> None:
    ident = add_message(app, n=1)
    korean = add_message(app, n=2)
    with app.app_context():
        old = db.session.get(Voicemail, ident)
        assert old is not None
        old.raw_transcript = old.transcript = "我 的 订单 号 是 一 二 三 四 五 六 七 八"
        index_message(db.session, ident, old.transcript)
        other = db.session.get(Voicemail, korean)
        assert other is not None
        other.language, other.raw_transcript, other.transcript = "ko", "주문  번호", "주문 번호"
        db.session.commit()
    result = invoke(app, "voicemail", "readable")
    assert result.exit_code == 0 and "1 transcript(s) rewritten" in result.output
    with app.app_context():
        old = db.session.get(Voicemail, ident)
        assert old is not None and old.transcript == "我的订单号是12345678"
        assert old.words == [{"word": "退货", "start": 0.1, "end": 0.5, "conf": 0.93}]
        found = matching("订单号12345678")
        assert found is not None
        assert set(db.session.scalars(found)) == {ident}
    assert invoke(app, "voicemail", "readable").output.startswith("0 transcript(s)")


def test_an_order_said_in_a_conversation_is_linked_on_the_call_page(
    app: Flask, client: FlaskClient
) -> None:
    """The worker's turns for a customer who gives an order number: made readable as a message
    is, and the call page shows the order with its status."""
    from ivr.models import Call
    from voicemail.models import ConversationRecording, VoicemailStatus
    from voicemail.worker import build_turns

    with_order(app)
    agent(app)
    customer = transcript_from(vosk_result(HEARD), language="zh", model_name="vosk-model-cn")
    agent_side = transcript_from(vosk_result("好 的 我 帮 您 查 一下"), language="zh")
    for word in agent_side.words:
        word.start, word.end = word.start + 10, word.end + 10
    turns = build_turns([customer, agent_side])
    assert [t["text"] for t in turns] == [
        "我的订单号是2026112401退款350块什么时候到",
        "好的我帮您查一下",
    ]
    with app.app_context():
        call = Call(sid="CA" + "7" * 32, from_number="+8613800138000", status="completed")
        db.session.add(call)
        db.session.flush()
        db.session.add(ConversationRecording(
            call_id=call.id, call_sid=call.sid, from_number=call.from_number, language="zh",
            recording_sid="RE" + "7" * 32, status=VoicemailStatus.TRANSCRIBED, turns=turns,
            transcript="\n".join(t["text"] for t in turns), duration=12.0,
        ))  # fmt: skip
        db.session.commit()
    sign_in(client)
    page = client.get(f"/calls/{'CA' + '7' * 32}", headers={"Accept-Language": "zh-CN"})
    assert chips(page.get_data(as_text=True)) == ["2026112401 派送中 · 顺丰速运 · 12月4日"]
