"""End-to-end fixtures: the app on loopback and the offline Twilio calling it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ivr.simulator import HttpTransport, Simulator
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE_URL


@pytest.fixture
def phone(live_server: str) -> Iterator[Simulator]:
    """Twilio, simulated, calling the app served over real HTTP."""
    simulator = Simulator(
        HttpTransport(live_server),
        public_base_url=PUBLIC_BASE_URL,
        auth_token=AUTH_TOKEN,
        account_sid=ACCOUNT_SID,
        fallback_path="/voice/fallback",
    )
    yield simulator
    simulator.close()
