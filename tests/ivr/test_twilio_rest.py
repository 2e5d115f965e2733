"""The REST client: an answer that is not what Twilio sends is an error, not a stored value."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from ivr.twilio.rest import TwilioError, create_call
from tests.loopback import serve


class OddTwilio(BaseHTTPRequestHandler):
    """Answers 201 to every call it is asked to place, with the body the test chose."""

    body = b"{}"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize(
    "body",
    [json.dumps({"sid": "CA" + "1" * 100}), json.dumps({"sid": 7}), json.dumps(["CA"]),
     "[" * 100_000 + "]" * 100_000, "not json"],
)  # fmt: skip
def test_an_answer_without_a_call_sid_is_a_twilio_error(body: str) -> None:
    OddTwilio.body = body.encode()
    with serve(OddTwilio) as url:
        config = {"TWILIO_API_BASE_URL": url, "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
                  "TWILIO_AUTH_TOKEN": "t"}  # fmt: skip
        with pytest.raises(TwilioError):
            create_call(config, to="+8613900000001", from_="+864008001234",
                        url="https://h.example/x", status_callback="https://h.example/y")  # fmt: skip
