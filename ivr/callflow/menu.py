"""The phone menu as data: nodes, prompts, voices, opening hours (``menu_file`` reads and checks it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

NODE_TYPES = {"language", "menu", "order_status", "case_status", "queue", "voicemail", "message"}
KEYS = set("0123456789#")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
REQUIRED_PHRASES = (
    "invalid",
    "no_input",
    "giving_up",
    "goodbye",
    "error",
    "closed",
    "order_status",
    "order_not_found",
    "lookup_failed",
    "case_status",
    "case_not_found",
    "agents_busy",
    "voicemail_unavailable",
    "message_received",
    "no_message",
    "queue_position",
    "queue_options",
    "queue_timeout",
    "callback_confirmed",
    "queue_connecting",
    "rate_call",
    "rating_thanks",
    "after_call_offer",
    "agent_whisper",
    "callback_whisper",
    "caller_gone",
)


class MenuError(ValueError):
    """The menu file is broken; the message names the file, line, node and problem."""


@dataclass(frozen=True)
class Segment:
    """One piece of a prompt: text to speak or a recording to play."""

    kind: str  # "say" or "play"
    value: str


@dataclass(frozen=True)
class Voice:
    """How one language is spoken: Twilio's language code and a voice that speaks it."""

    code: str
    say_language: str
    voice: str


@dataclass(frozen=True)
class Schedule:
    """Weekly opening hours and holidays, in the menu's timezone."""

    weekly: dict[int, tuple[tuple[time, time], ...]]
    holidays: frozenset[date]


@dataclass(frozen=True)
class Node:
    """A place in the menu."""

    id: str
    type: str
    line: int
    prompt: dict[str, tuple[Segment, ...]]
    options: dict[str, str] = field(default_factory=dict)
    next: str | None = None
    fallback: str | None = None
    hours: str | None = None
    closed: str | None = None
    max_attempts: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    # The line of each field, and of each option as "option '3'": errors point at the mistake.
    lines: dict[str, int] = field(default_factory=dict, compare=False)

    def line_of(self, what: str) -> int:
        """The line where ``what`` (a field, or "option '3'") is written, else the node's."""
        return self.lines.get(what, self.line)


@dataclass(frozen=True)
class Menu:
    """The whole menu, checked."""

    source: str
    start: str
    timezone: ZoneInfo
    languages: dict[str, Voice]
    nodes: dict[str, Node]
    phrases: dict[str, dict[str, str]]
    order_statuses: dict[str, dict[str, str]]
    case_statuses: dict[str, dict[str, str]]
    schedules: dict[str, Schedule]
    max_attempts: int
    gather_timeout: int
    digits_timeout: int
    reply_promise_minutes: int
    announce_every: int = 45
    hold_music: str = ""
    topics: dict[str, dict[str, str]] = field(default_factory=dict)
    language_names: dict[str, dict[str, str]] = field(default_factory=dict)
    # Wrap-up disposition codes, in the file's order, each with a name per language.
    dispositions: dict[str, dict[str, str]] = field(default_factory=dict)

    def name_of(self, table: dict[str, dict[str, str]], key: str, language: str) -> str:
        """A topic's or language's name in ``language`` (the key itself if unnamed)."""
        return table.get(key, {}).get(language, key.replace("_", " "))

    def phrase(self, name: str, language: str, **values: str) -> str:
        """A phrase in one language with its placeholders filled."""
        template = self.phrases[name].get(language) or next(iter(self.phrases[name].values()))
        return template.format(**values)

    def attempts(self, node: Node) -> int:
        """How many tries a caller gets at a node."""
        return node.max_attempts or self.max_attempts

    def is_open(self, node: Node, now: datetime) -> bool:
        """Whether the node's opening hours include ``now`` (always, without hours)."""
        if node.hours is None:
            return True
        schedule = self.schedules[node.hours]
        local = now.astimezone(self.timezone)
        if local.date() in schedule.holidays:
            return False
        current = local.time().replace(tzinfo=None)
        return any(
            start <= current < end for start, end in schedule.weekly.get(local.weekday(), ())
        )
