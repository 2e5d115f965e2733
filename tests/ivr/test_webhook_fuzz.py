"""Property: whatever a signed request carries, a webhook answers 2xx or a clear 4xx, never 5xx."""

from __future__ import annotations

from typing import Any

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Twilio

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
    "/voice/agent/connect?entry=1",
    "/voice/agent/dialed?entry=1",
]
FIELDS = [
    "CallSid", "From", "To", "CallStatus", "Digits", "CallDuration", "SequenceNumber", "CallerName",
    "RecordingSid", "RecordingUrl", "RecordingDuration", "RecordingStatus", "QueueResult",
    "QueuePosition", "QueueTime", "DialCallStatus", "DialCallDuration", "SpeechResult",
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


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
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
