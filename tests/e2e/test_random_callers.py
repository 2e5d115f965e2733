"""Property: whatever a caller does, in whatever order, they never meet dead air or a 5xx.

Hypothesis writes the callers' scripts (keys, silence, speech, hanging up anywhere) and the
offline Twilio plays them against the app in-process; every call must end logged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ivr.database import db
from ivr.models import Call
from ivr.simulator import Caller, RecordingServer, Simulator, WsgiTransport, parse_script
from ivr.simulator.caller import KEYS
from tests.e2e.conftest import simulator_for

pytestmark = pytest.mark.fuzz

# A whole call is a dozen webhooks: a third of the webhook fuzzers' examples takes as long.
EXAMPLES = max(int(os.environ.get("HOTLINE_FUZZ_EXAMPLES", "150")) // 3, 20)
# What a caller does at each input point, in ``flask simulate call --keys`` words.
actions = st.one_of(
    st.text(alphabet=sorted(KEYS), min_size=1, max_size=14),
    st.sampled_from([".", "hangup", "speak:1", "speak:1:hangup", "speak:1:.", "speak:1:1"]),
)
numbers = st.sampled_from(["+8613800138000", "+14155550100", "+447700900123", "anonymous", ""])


@pytest.fixture
def in_process_phone(app: Flask, media: RecordingServer) -> Iterator[Simulator]:
    """Twilio, simulated, calling the app in-process on an instant clock."""
    simulator = simulator_for(WsgiTransport(app), media)
    yield simulator
    simulator.close()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=st.lists(actions, max_size=10).map(" ".join), number=numbers)
def test_any_caller_is_answered_and_logged(
    app: Flask, in_process_phone: Simulator, script: str, number: str
) -> None:
    result = in_process_phone.call(Caller(number=number, script=parse_script(script)))
    assert result.errors == [], (script, result.transcript_text())
    assert all(r.status < 500 for r in result.requests), [
        (r.path, r.status) for r in result.requests
    ]
    with app.app_context():
        call = db.session.scalar(select(Call).where(Call.sid == result.sid))
        assert call is not None, script
        assert call.status == "completed" and call.outcome is not None, (call.status, script)
