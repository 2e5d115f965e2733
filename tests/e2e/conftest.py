"""End-to-end fixtures: the app on loopback and the offline Twilio calling it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.models import AgentOffer, CallEvent, OfferOutcome, QueueEntry
from ivr.simulator import HttpTransport, RecordingServer, Simulator, Transport
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE_URL


@pytest.fixture
def media() -> Iterator[RecordingServer]:
    """Twilio's media host, simulated: recordings behind basic auth."""
    server = RecordingServer(ACCOUNT_SID, AUTH_TOKEN)
    yield server
    server.close()


@pytest.fixture
def app_settings(app_settings: dict[str, Any], media: RecordingServer) -> dict[str, Any]:
    """The app sends its REST calls and recording downloads to the simulated Twilio."""
    app_settings["TWILIO_API_BASE_URL"] = media.base_url
    # Plain http to a loopback stand-in for Twilio is trusted only outside production; the auth
    # token is set, so signatures are still checked as in a deployment.
    app_settings["HOTLINE_ENV"] = "development"
    return app_settings


def simulator_for(server: str | Transport, media: RecordingServer, **options: Any) -> Simulator:
    """Twilio, simulated, calling the app: served over real HTTP at ``server``, or in-process."""
    return Simulator(
        HttpTransport(server) if isinstance(server, str) else server,
        public_base_url=PUBLIC_BASE_URL,
        auth_token=AUTH_TOKEN,
        account_sid=ACCOUNT_SID,
        fallback_path="/voice/fallback",
        recording_server=media,
        **options,
    )


@pytest.fixture
def phone(live_server: str, media: RecordingServer) -> Iterator[Simulator]:
    """Twilio, simulated: each call runs on its own instant clock."""
    simulator = simulator_for(live_server, media)
    yield simulator
    simulator.close()


@pytest.fixture
def live_phone(live_server: str, media: RecordingServer) -> Iterator[Simulator]:
    """Twilio, simulated in real time 50 times faster, so calls wait in queues side by side."""
    simulator = simulator_for(live_server, media, time_scale=0.02)
    yield simulator
    simulator.close()


def answered_again(session: Session, offers: Iterable[AgentOffer]) -> int:
    """How many answers came after a caller's first, each checked to follow a failed bridge: a
    caller is answered once, and again only when their agent left before the caller reached the
    room (a loaded machine moves them late), which puts them back in line."""
    answered = Counter(o.entry_id for o in offers if o.outcome == OfferOutcome.ANSWERED)
    again = answered - Counter(set(answered))
    for entry_id, more in again.items():
        entry = session.get(QueueEntry, entry_id)
        assert entry is not None
        failed = session.scalar(select(func.count()).where(
            CallEvent.call_id == entry.call_id, CallEvent.kind == "bridge_failed"))  # fmt: skip
        assert failed == more, (entry_id, more, failed)
    return sum(again.values())
