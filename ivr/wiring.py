"""What the app wires into the call flow: the loaded menu, lookups, and node plug-ins."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from ivr.flow import Lookup, NodeHandler, StatusInfo
from ivr.menu import Menu


def no_cases(number: str) -> StatusInfo | None:
    """The case lookup until voice messages create cases: every case is unknown."""
    return None


@dataclass
class Hotline:
    """Per-app state shared by every request: loaded once at start-up."""

    menu: Menu
    find_case: Lookup = no_cases
    handlers: dict[str, NodeHandler] = field(default_factory=dict)


def hotline() -> Hotline:
    """The running app's Hotline."""
    return current_app.extensions["hotline"]
