"""Fixtures for the audio and transcription tests: the real Korean clips and the packaged model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import vosk

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.media_server import MediaHost, media_host
from tests.speech import Clip, all_clips
from voicemail.transcription import ModelRegistry


@pytest.fixture(scope="session")
def clips() -> list[Clip]:
    """The Korean clips in the repository, and those HOTLINE_TEST_SPEECH adds."""
    return list(all_clips().values())


@pytest.fixture(scope="session")
def ko_model() -> vosk.Model:
    """The packaged Korean model, loaded once for the whole test run."""
    return ModelRegistry({}).model_for("ko")


@pytest.fixture
def host() -> Iterator[MediaHost]:
    """Twilio's media host on loopback, serving recordings with basic auth."""
    with media_host(ACCOUNT_SID, AUTH_TOKEN) as served:
        yield served
