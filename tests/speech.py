"""Real speech for the tests: the CC BY clips in ``tests/data/speech``, more where a setting points.

``HOTLINE_TEST_SPEECH`` may name a further folder with a ``manifest.tsv`` of the same columns.
CI points it at ``../shared/speech/ko``, whose emotiontts clips are licensed for research only
(CC BY-NC-SA) and so never enter the repository.
"""

from __future__ import annotations

import csv
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_SPEECH = Path(__file__).with_name("data") / "speech" / "ko"
SETTING = "HOTLINE_TEST_SPEECH"


@dataclass(frozen=True)
class Clip:
    """One recorded utterance and what was said."""

    path: Path
    seconds: float
    reference: str


def speech_folders() -> list[Path]:
    """The repository's clips, then the folder ``HOTLINE_TEST_SPEECH`` names, if any."""
    folders = [REPO_SPEECH]
    if extra := os.environ.get(SETTING, "").strip():
        folder = Path(extra).expanduser().resolve()
        if not (folder / "manifest.tsv").is_file():
            raise FileNotFoundError(f"{SETTING}={extra}: no manifest.tsv in {folder}")
        folders.append(folder)
    return folders


@functools.cache
def all_clips() -> dict[str, Clip]:
    """Every clip by file name; the repository's copy wins where both hold one."""
    found: dict[str, Clip] = {}
    for folder in speech_folders():
        with (folder / "manifest.tsv").open(encoding="utf-8") as rows:
            for row in csv.DictReader(rows, delimiter="\t"):
                found.setdefault(
                    row["file"],
                    Clip(folder / row["file"], float(row["seconds"]), row["reference_text"]),
                )
    return found


def clip(name: str) -> Clip:
    """The clip ``name``; the test is skipped, saying why, when it is not here."""
    found = all_clips().get(name)
    if found is None:
        pytest.skip(
            f"speech clip {name} is not in the repository; set {SETTING} to a folder with it"
        )
    return found


def speech(name: str) -> bytes:
    """The bytes of the clip ``name`` (see ``clip``)."""
    return clip(name).path.read_bytes()
