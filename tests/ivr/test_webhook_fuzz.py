"""Property: whatever a signed request carries, a webhook answers 2xx or a clear 4xx, never 5xx."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote_from_bytes

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from ivr.twilio.signature import signature
from tests.conftest import PUBLIC_BASE_URL, Twilio, sign
from tests.factories import EXAMPLES

pytestmark = pytest.mark.fuzz

# CI runs a quick pass; `HOTLINE_FUZZ_EXAMPLES=5000 ./hotline.sh test tests/ivr/test_*fuzz*.py
# tests/ivr/test_openapi.py` is the long one (docs/benchmarks.md).

ROUTES = [
    "/voice/incoming",
    "/voice/status",
    "/voice/fallback",
    "/voice/node/main?s=2&lang=zh",
    "/voice/input/main?s=2&a=0&lang=en",
    "/voice/input/delivery?s=3&a=1&lang=zh",
    "/voice/input/language?s=1&a=0",
    "/voice/voicemail/recorded?node=message&lang=zh&s=3",
    "/voice/voicemail/status?node=message&lang=en",
    "/voice/queue/wait?n=product&lang=zh",
    "/voice/queue/key?n=product&lang=zh",
    "/voice/queue/done?n=product&lang=en&s=4",
    "/voice/queue/rate?lang=zh&s=5",
    "/voice/queue/after?lang=zh&s=6",
    "/voice/queue/join?entry=1&s=4",
    "/voice/queue/talked?entry=1&s=5",
    "/voice/queue/music",
    "/voice/queue/conference",
    "/voice/agent/connect?entry=1",
    "/voice/agent/dialed?entry=1",
    "/voice/agent/callback?entry=1&agent=1",
    "/voice/agent/customer?entry=1",
    "/voice/message-call/connect?message=1&agent=1",
    "/voice/message-call/dialed?message=1&agent=1",
    "/voice/message-call/status?message=1&agent=1",
]
FIELDS = [
    "CallSid", "From", "To", "CallStatus", "Digits", "CallDuration", "SequenceNumber", "CallerName",
    "RecordingSid", "RecordingUrl", "RecordingDuration", "RecordingStatus", "QueueResult",
    "QueuePosition", "QueueTime", "DialCallStatus", "DialCallDuration", "DialCallSid",
    "SpeechResult", "StatusCallbackEvent", "FriendlyName", "ConferenceSid", "Hold",
]  # fmt: skip
text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300
)
values = st.one_of(
    text,
    st.integers(-(10**12), 10**12).map(str),
    st.sampled_from(["", "CA" + "1" * 32, "RE" + "2" * 32, "completed", "bridged", "leave", "#", "*",
                     "1", "12345#", "../../etc/passwd", "' OR 1=1 --", "<script>alert(1)</script>",
                     "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE" + "2" * 32]),
)  # fmt: skip
forms = st.dictionaries(st.sampled_from(FIELDS), values, max_size=10)
# Each example is a request to the same app: its fixtures are meant to be shared.
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@fuzz
@given(route=st.sampled_from(ROUTES), form=forms, real_call=st.booleans())
def test_no_webhook_answers_5xx(
    app: Flask, twilio: Twilio, route: str, form: dict[str, Any], real_call: bool
) -> None:
    if real_call:
        form = {**form, "CallSid": "CA" + "1" * 32}
    reply = twilio.post(route, form)
    assert reply.status_code < 500, (route, form, reply.data[:300])
    body = reply.get_data(as_text=True)
    assert "Traceback" not in body
    if reply.status_code == 200 and reply.mimetype == "text/xml":
        assert "<Response" in body  # TwiML, even when something failed inside


raw_values = st.one_of(
    st.binary(max_size=200),  # any bytes: invalid UTF-8, NUL, control characters
    st.sampled_from(["订单查询", "주문", "ünïcödé"]).map(lambda t: t.encode("gb18030")),
    st.integers(0, 10).map(lambda n: b"9" * (10**n % 40000)),  # up to huge numbers
)


@fuzz
@given(
    route=st.sampled_from(ROUTES),
    fields=st.dictionaries(st.sampled_from(FIELDS), raw_values, max_size=8),
    content_type=st.sampled_from(
        ["application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=gbk"]
    ),
)
def test_no_webhook_answers_5xx_to_raw_bytes(
    app: Flask, twilio: Twilio, route: str, fields: dict[str, bytes], content_type: str
) -> None:
    """Bytes in any encoding, signed as the app will read them: still never a 5xx."""
    fields = {"CallSid": b"CA" + b"1" * 32, **fields}
    body = "&".join(f"{name}={quote_from_bytes(value)}" for name, value in fields.items())
    # Sign what the app decodes (UTF-8; werkzeug keeps undecodable bytes %-escaped), so that
    # the request passes the signature and the fields reach the views.
    params = dict(parse_qsl(body, keep_blank_values=True, errors="werkzeug.url_quote"))
    headers = {
        "X-Twilio-Signature": sign(PUBLIC_BASE_URL + route, params),
        "Content-Type": content_type,
    }
    reply = twilio.client.post(route, data=body.encode(), headers=headers)
    assert reply.status_code < 500, (route, fields, reply.data[:300])
    assert reply.status_code != 403, "the signature should match what the app decoded"
    assert "Traceback" not in reply.get_data(as_text=True)


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    url=st.text(min_size=1, max_size=80),
    fields=st.lists(st.tuples(st.text(max_size=12), st.text(max_size=40)), max_size=12),
    algorithm=st.sampled_from(["HMAC_SHA1", "HMAC_SHA256"]),
)
def test_our_signature_is_twilios(url: str, fields: list[tuple[str, str]], algorithm: str) -> None:
    """The webhook's own HMAC gives what twilio's RequestValidator gives, repeated fields too."""
    form = MultiDict(fields)
    expected = RequestValidator("a-token").compute_signature(url, form, algorithm)
    assert signature("a-token", url, form, algorithm).decode() == expected


header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=120)


@fuzz
@given(
    route=st.sampled_from(ROUTES),
    settings_header=st.one_of(
        header_text,
        st.builds(
            "key={},algorithm={}".format,
            header_text,
            st.sampled_from(["HMAC_SHA256", "hmac_sha1", "", "MD5", "HMAC_SHA256,key=x"]),
        ),
    ),
)
def test_a_signature_settings_header_for_no_configured_key_is_refused(
    app: Flask, twilio: Twilio, route: str, settings_header: str
) -> None:
    """However the SharedKey header reads, a request signed for no key we hold gets a 403.

    An empty header is no header, as twilio's helpers read it: the auth token's signature counts.
    """
    params = {"CallSid": "CA" + "1" * 32}
    headers = {
        "X-Twilio-Signature": sign(PUBLIC_BASE_URL + route, params),
        "X-Twilio-Webhooks-Signature-Settings": settings_header,
    }
    reply = twilio.client.post(route, data=params, headers=headers)
    if settings_header.strip():
        assert reply.status_code == 403, (route, settings_header, reply.data[:300])
    else:
        assert reply.status_code not in (403, 500), (route, reply.data[:300])
