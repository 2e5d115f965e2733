"""Fixtures for the audio and transcription tests: the real Korean clips and the packaged model."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import vosk

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.voicemail.media_server import MediaHost, media_host
from voicemail.transcription import ModelRegistry

# Read in place, never copied: some clips are licensed for testing only (see the README there).
SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "speech" / "ko"


@dataclass(frozen=True)
class Clip:
    """One recorded utterance and what was said."""

    path: Path
    seconds: float
    reference: str


@pytest.fixture(scope="session")
def clips() -> list[Clip]:
    """The nine Korean clips of ../shared/speech/ko with their reference text."""
    manifest = SPEECH / "manifest.tsv"
    if not manifest.is_file():
        pytest.skip(f"speech clips not found at {SPEECH}")
    with manifest.open(encoding="utf-8") as rows:
        return [
            Clip(SPEECH / row["file"], float(row["seconds"]), row["reference_text"])
            for row in csv.DictReader(rows, delimiter="\t")
        ]


@pytest.fixture(scope="session")
def ko_model() -> vosk.Model:
    """The packaged Korean model, loaded once for the whole test run."""
    return ModelRegistry({}).model_for("ko")


@pytest.fixture
def host() -> Iterator[MediaHost]:
    """Twilio's media host on loopback, serving recordings with basic auth."""
    with media_host(ACCOUNT_SID, AUTH_TOKEN) as served:
        yield served
