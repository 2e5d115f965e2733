"""What the app wires into the call flow: the loaded menu, lookups, and node plug-ins."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy.orm import Session

from ivr.callflow.flow import Lookup, NodeHandler, StatusInfo
from ivr.callflow.menu import Menu


def no_cases(session: Session) -> Lookup:
    """The case lookup when nothing creates cases: every case is unknown."""

    def find(number: str) -> StatusInfo | None:
        return None

    return find


@dataclass
class Hotline:
    """Per-app state shared by every request: loaded once at start-up."""

    menu: Menu
    case_lookup: Callable[[Session], Lookup] = no_cases
    handlers: dict[str, NodeHandler] = field(default_factory=dict)
    # What `flask simulate call` does with the recordings a call left (voicemail follows them).
    follow_recordings: Callable[..., Iterable[str]] | None = None


def hotline() -> Hotline:
    """The running app's Hotline."""
    return current_app.extensions["hotline"]


def menu_languages() -> list[str]:
    """The language codes the running menu offers callers."""
    return list(hotline().menu.languages)
