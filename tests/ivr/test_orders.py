"""Order status: the imported table and the shop's HTTP endpoint, heard by the caller."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from ivr.callflow.flow import LookupFailed
from ivr.callflow.orders import find_order_over_http
from ivr.database import db
from ivr.models import Call, CallEvent, Order, Outcome
from tests.conftest import Twilio
from tests.factories import SID, call_params
from tests.loopback import serve
from tests.twiml import Doc


class Shop(BaseHTTPRequestHandler):
    """A shop's order endpoint on loopback: /orders/<number>."""

    orders: dict[str, Any] = {
        "20261124001": {"status": "in_transit", "carrier": "顺丰速运", "eta": "2026-11-26"},
        "30000": {"status": "delivered"},
        "40000": {"nothing": "here"},
        "80000": {},
        "71000": {"status": "shipped", "carrier": "顺丰\t速运\n", "eta": "11月\u300026日"},
        "70000": {
            "status": "shipped",
            "carrier": "SF\x00 Express\x07\ud800",
            "eta": "\u202e1\u202c",
        },
    }
    seen_auth: list[str] = []

    def do_GET(self) -> None:
        self.seen_auth.append(self.headers.get("Authorization", ""))
        number = self.path.rsplit("/", 1)[-1]
        if number == "50000":
            self.send_error(503)
            return
        if number == "60000":
            time.sleep(1.5)
        if number not in self.orders:
            self.send_error(404)
            return
        body = json.dumps(self.orders[number]).encode()
        if number == "80000":  # nested deeper than a JSON parser goes
            body = b'{"status": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def shop() -> Iterator[str]:
    with serve(Shop) as url:
        yield url


def test_http_lookup_against_a_real_server(shop: str) -> None:
    find = find_order_over_http(f"{shop}/orders/{{number}}", timeout=0.5, token="s3cret")
    found = find("20261124001")
    assert found is not None
    assert (found.status, found.carrier, found.eta) == ("in_transit", "顺丰速运", "2026-11-26")
    assert Shop.seen_auth[-1] == "Bearer s3cret"
    assert find("99999") is None
    # Control characters, a lone surrogate and bidi marks cannot be read out (nor put in TwiML).
    odd = find("70000")
    assert odd is not None and (odd.carrier, odd.eta) == ("SF Express", "1")
    spaced = find("71000")  # tabs, newlines and ideographic spaces are read as one space
    assert spaced is not None and (spaced.carrier, spaced.eta) == ("顺丰 速运", "11月 26日")
    for broken, reason in [
        ("50000", "HTTP 503"),
        ("40000", "without a status"),
        ("80000", "without a status"),
        ("60000", "unreachable"),
    ]:
        with pytest.raises(LookupFailed, match=reason):
            find(broken)
    dead = find_order_over_http("http://127.0.0.1:9/orders/{number}", timeout=0.5)
    with pytest.raises(LookupFailed, match="unreachable"):
        dead("12345")


def delivery_menu(twilio: Twilio, lang_key: str = "1") -> Doc:
    doc = Doc.parse(twilio.post("/voice/incoming", call_params()).data)
    for digits in (lang_key, "2"):
        action = doc.gather().get("action", "").removeprefix("https://hotline.example.com")
        doc = Doc.parse(twilio.post(action, call_params(Digits=digits)).data)
    return doc


def enter_order(twilio: Twilio, doc: Doc, number: str) -> Doc:
    action = doc.gather().get("action", "").removeprefix("https://hotline.example.com")
    return Doc.parse(twilio.post(action, call_params(Digits=number)).data)


@pytest.fixture
def shop_settings(app_settings: dict[str, Any], shop: str) -> dict[str, Any]:
    app_settings.update(ORDER_LOOKUP_URL=f"{shop}/orders/{{number}}", ORDER_LOOKUP_TIMEOUT=0.5)
    return app_settings


def test_caller_hears_order_status_from_the_shop(
    shop_settings: dict, app: Flask, twilio: Twilio
) -> None:
    doc = delivery_menu(twilio)
    assert doc.gather().get("finishOnKey") == "#"
    assert doc.said() == [("cmn-CN", "请输入您的订单号，以井号键结束。")]
    reply = enter_order(twilio, doc, "20261124001")
    texts = [t for _, t in reply.said()]
    assert texts[:3] == [
        "订单 2 0 2 6 1 1 2 4 0 0 1 的状态是：运输中。",
        "预计送达日期：2026-11-26。",
        "承运快递：顺丰速运。",
    ]
    assert reply.languages() == {"cmn-CN"}
    with app.app_context():
        call = db.session.scalars(select(Call).where(Call.sid == SID)).one()
        assert call.outcome == Outcome.SELF_SERVICE
        lookup = db.session.scalars(select(CallEvent).where(CallEvent.kind == "order_lookup")).one()
        assert lookup.detail == {"number": "20261124001", "result": "found", "status": "in_transit"}


def test_shop_failure_is_answered_gracefully(
    shop_settings: dict, app: Flask, twilio: Twilio
) -> None:
    reply = enter_order(twilio, delivery_menu(twilio, "2"), "50000")
    texts = [t for _, t in reply.said()]
    assert texts[0] == "Sorry, we cannot look that up right now."
    # Then on to the node's fallback (an agent), never a hang-up without a word.
    assert reply.languages() == {"en-US"}
    reply = enter_order(twilio, delivery_menu(twilio, "2"), "60000")  # too slow
    assert next(t for _, t in reply.said()) == "Sorry, we cannot look that up right now."


def test_orders_import_then_lookup_from_the_table(
    app: Flask, twilio: Twilio, tmp_path: Path
) -> None:
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text(
        "\ufefforder_number,status,carrier,eta\n12345,shipped,中通快递,2026-11-27\n777888,delivered,,\n",
        encoding="utf-8",
    )
    result = app.test_cli_runner().invoke(args=["orders", "import", str(csv_file)])
    assert result.exit_code == 0, result.output
    assert "2 order(s) added, 0 updated" in result.output
    csv_file.write_text("order_number,status\n12345,delivered\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["orders", "import", str(csv_file)])
    assert "0 order(s) added, 1 updated" in result.output
    with app.app_context():
        assert (
            db.session.scalars(select(Order).where(Order.number == "12345")).one().status
            == "delivered"
        )

    reply = enter_order(twilio, delivery_menu(twilio, "2"), "777888")
    assert next(t for _, t in reply.said()) == "Order 7 7 7 8 8 8: delivered."
    missing = enter_order(twilio, delivery_menu(twilio, "2"), "4444")
    assert next(t for _, t in missing.said()) == "Sorry, we could not find order 4 4 4 4."
    assert missing.gather().get("finishOnKey") == "#"  # asked again


def test_orders_import_is_all_or_nothing(app: Flask, tmp_path: Path) -> None:
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text("order_number,status\n12345,shipped\nABC,shipped\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["orders", "import", str(csv_file)])
    assert result.exit_code != 0
    assert "line 3" in result.output
    with app.app_context():
        assert db.session.scalars(select(Order)).all() == []
    csv_file.write_text("number;state\n1;2\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["orders", "import", str(csv_file)])
    assert "order_number,status" in result.output


def test_orders_import_refuses_a_status_the_menu_cannot_read_out(
    app: Flask, tmp_path: Path
) -> None:
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text("order_number,status\n12345,shipped\n67890,lost_in_space\n", "utf-8")
    result = app.test_cli_runner().invoke(args=["orders", "import", str(csv_file)])
    assert result.exit_code == 1
    assert "line 3: status 'lost_in_space' is not one the menu can read out" in result.output
    assert "in_transit" in result.output  # the statuses it can read out are named
    with app.app_context():
        assert db.session.scalars(select(Order)).all() == []
