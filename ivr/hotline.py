"""What the app wires in: the loaded menu, lookups, node plug-ins, and what others add to pages.

Other packages (voicemail) plug in here: ivr never imports them, nor names their endpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from flask import current_app
from prometheus_client.core import Metric
from sqlalchemy.orm import Session

from ivr.callflow.flow import Lookup, NodeHandler, StatusInfo
from ivr.callflow.menu import Menu


def no_cases(session: Session) -> Lookup:
    """The case lookup when nothing creates cases: every case is unknown."""

    def find(number: str) -> StatusInfo | None:
        return None

    return find


def no_caller_links(session: Session, number: str) -> Sequence[tuple[str, str]]:
    """What a caller left elsewhere when nothing else is wired in: nothing."""
    return ()


class Readiness(StrEnum):
    """How ready the service is, as /readyz says it (worst of all checks wins)."""

    READY = "ready"
    DEGRADED = "degraded"  # takes calls, but something waits (e.g. a speech model is missing)
    UNREADY = "unready"


@dataclass(frozen=True)
class ReadinessCheck:
    """Facts a package adds to /readyz: ``facts`` writes them into the checks, says how ready."""

    facts: Callable[[dict[str, object]], Readiness]
    # Run only while the database answers; an error in it is reported as the database's.
    reads_database: bool = False


class Recorder:
    """Records conversations (voicemail's keeps the files); this one records nothing.

    ``entry`` is the caller's stay in a queue (``ivr.models.QueueEntry``) whose conversation it
    is. ``pause`` returns None when the conversation is not being recorded.
    """

    def start(self, session: Session, entry: Any, *, direction: str) -> None:
        """Record the customer's leg of ``entry``'s conversation (once)."""

    def stop(self, session: Session, entry: Any) -> None:
        """Stop ``entry``'s recording, if one goes on."""

    def pause(self, session: Session, entry: Any, *, on: bool) -> float | None:
        """Pause (``on``) or resume it; the seconds into the recording, or None."""
        return None


@dataclass
class Hotline:
    """Per-app state shared by every request: loaded once at start-up."""

    menu: Menu
    case_lookup: Callable[[Session], Lookup] = no_cases
    handlers: dict[str, NodeHandler] = field(default_factory=dict)
    # What `flask simulate call` does with the recordings a call left (voicemail follows them).
    follow_recordings: Callable[..., Iterable[str]] | None = None
    # What /readyz and /metrics report beyond the database and the queues (voicemail's backlog).
    readiness: Sequence[ReadinessCheck] = ()
    metrics: Sequence[Callable[[], Iterable[Metric]]] = ()
    # The screen pop's links to what a number left beyond its calls (voicemail: messages and
    # open cases), as (label, url), labels in the reader's language; called in a request.
    caller_links: Callable[[Session, str], Sequence[tuple[str, str]]] = no_caller_links
    # Who records conversations with agents (voicemail: ``voicemail.conversation_recording``).
    recorder: Recorder = field(default_factory=Recorder)


def hotline() -> Hotline:
    """The running app's Hotline."""
    return current_app.extensions["hotline"]


def menu_languages() -> list[str]:
    """The language codes the running menu offers callers."""
    return list(hotline().menu.languages)
