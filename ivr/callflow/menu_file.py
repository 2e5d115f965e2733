"""Reading the menu file: YAML with line numbers, checked so an error names the line and node."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from ivr.callflow.menu import (
    KEYS,
    NODE_TYPES,
    REQUIRED_PHRASES,
    WEEKDAYS,
    Menu,
    MenuError,
    Node,
    Schedule,
    Segment,
    Voice,
)


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml: 10x faster
    """A YAML loader that remembers the line of every mapping, for error messages."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = _LineDict(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {str(key.value): key.start_mark.line + 1 for key, _ in node.value}
    return mapping


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> list[Any]:
    sequence = _LineList(loader.construct_sequence(node, deep=True))
    sequence.line = node.start_mark.line + 1
    sequence.item_lines = [item.start_mark.line + 1 for item in node.value]
    return sequence


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


class _LineDict(dict[str, Any]):
    line: int = 0
    key_lines: dict[str, int] = {}  # noqa: RUF012 (set per instance by the loader)


class _LineList(list[Any]):
    line: int = 0
    item_lines: list[int] = []  # noqa: RUF012 (set per instance by the loader)


@dataclass(frozen=True)
class _Place:
    """A line to name in an error, for a value that is not a mapping."""

    line: int


class _Checker:
    """Builds a Menu from parsed YAML, collecting the first problem as a MenuError."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(
        self, where: Any, problem: str, node: str | None = None, key: str | None = None
    ) -> MenuError:
        line = getattr(where, "key_lines", {}).get(key) or getattr(where, "line", 0)
        place = f"{self.source}" + (f", line {line}" if line else "")
        subject = f"node '{node}': " if node else ""
        return MenuError(f"{place}: {subject}{problem}")

    def mapping(self, value: Any, where: Any, what: str, node: str | None = None) -> dict[str, Any]:
        if value is None:
            return _LineDict()
        if not isinstance(value, dict):
            raise self.fail(where, f"{what} must be a mapping", node)
        return value

    def positive_int(self, value: Any, where: Any, what: str, node: str | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problem = f"{what} must be a whole number above 0, not {value!r}"
            raise self.fail(where, problem, node, key=what)
        return value

    def texts(self, value: Any, where: Any, what: str, languages: dict[str, Voice]) -> dict:
        table = self.mapping(value, where, what)
        for code in languages:
            if not isinstance(table.get(code), str) or not table[code].strip():
                raise self.fail(table or where, f"{what} has no text for language '{code}'")
        return {code: str(text) for code, text in table.items()}

    def prompt(
        self, value: Any, where: Any, node_id: str, languages: dict[str, Voice]
    ) -> dict[str, tuple[Segment, ...]]:
        table = self.mapping(value, where, "prompt", node_id)
        prompt: dict[str, tuple[Segment, ...]] = {}
        for code in languages:
            if code not in table:
                raise self.fail(
                    table or where, f"prompt has nothing for language '{code}'", node_id
                )
            parts = table[code] if isinstance(table[code], list) else [table[code]]
            segments = []
            for part in parts:
                if isinstance(part, str) and part.strip():
                    segments.append(Segment("say", part.strip()))
                elif (
                    isinstance(part, dict) and len(part) == 1 and ("say" in part or "play" in part)
                ):
                    kind, text = next(iter(part.items()))
                    if not isinstance(text, str) or not text.strip():
                        raise self.fail(part, f"prompt '{code}' has an empty {kind}", node_id)
                    segments.append(Segment(kind, text.strip()))
                else:
                    raise self.fail(
                        table,
                        f"prompt '{code}' must be text, {{say: TEXT}} or {{play: URL}}",
                        node_id,
                    )
            prompt[code] = tuple(segments)
        return prompt

    def schedule(self, name: str, value: Any, where: Any) -> Schedule:
        table = self.mapping(value, where, f"hours '{name}'")
        weekly: dict[int, list[tuple[time, time]]] = {}
        for days, spans in self.mapping(
            table.get("weekly"), table, f"hours '{name}' weekly"
        ).items():
            for day in self._days(days, table, name):
                for span in spans if isinstance(spans, list) else [spans]:
                    weekly.setdefault(day, []).append(self._span(span, table, name))
        holidays = set()
        for raw in table.get("holidays") or []:
            try:
                holidays.add(raw if isinstance(raw, date) else date.fromisoformat(str(raw)))
            except ValueError:
                raise self.fail(
                    table, f"hours '{name}': holiday {raw!r} is not YYYY-MM-DD"
                ) from None
        return Schedule({d: tuple(s) for d, s in weekly.items()}, frozenset(holidays))

    def _days(self, days: str, where: Any, name: str) -> list[int]:
        found: list[int] = []
        for part in str(days).lower().replace(" ", "").split(","):
            first, _, last = part.partition("-")
            if first not in WEEKDAYS or (last and last not in WEEKDAYS):
                raise self.fail(where, f"hours '{name}': {days!r} is not a day like mon or mon-fri")
            start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
            found.extend(
                range(start, end + 1) if start <= end else [*range(start, 7), *range(end + 1)]
            )
        return found

    def _span(self, span: Any, where: Any, name: str) -> tuple[time, time]:
        match = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", str(span))
        if not match:
            raise self.fail(where, f"hours '{name}': {span!r} is not a span like 09:00-21:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2) or (h1, m1) >= (h2, m2):
            raise self.fail(where, f"hours '{name}': {span!r} is not a valid span")
        return time(h1, m1), time.max if h2 == 24 else time(h2, m2)


def load_menu(path: str | Path) -> Menu:
    """Read and check a menu file; raise MenuError naming the problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise MenuError(f"{source}: cannot read the menu file ({exc.strerror})") from None
    try:
        raw = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark else ""
        raise MenuError(
            f"{source}{line}: not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None
    return parse_menu(raw, source)


def parse_menu(raw: Any, source: str = "menu") -> Menu:
    """Check parsed YAML and build a Menu."""
    check = _Checker(source)
    top = check.mapping(raw, raw, "the menu file")
    try:
        timezone = ZoneInfo(str(top.get("timezone", "Asia/Shanghai")))
    except (ZoneInfoNotFoundError, ValueError):
        raise check.fail(top, f"unknown timezone {top.get('timezone')!r}") from None

    languages: dict[str, Voice] = {}
    for code, spec in check.mapping(top.get("languages"), top, "languages").items():
        spec = check.mapping(spec, top, f"language '{code}'")
        if not spec.get("say_language") or not spec.get("voice"):
            raise check.fail(
                spec or top, f"language '{code}' needs say_language and voice together"
            )
        languages[str(code)] = Voice(str(code), str(spec["say_language"]), str(spec["voice"]))
    if not languages:
        raise check.fail(top, "at least one language is needed under 'languages'")

    phrases_raw = check.mapping(top.get("phrases"), top, "phrases")
    for name in REQUIRED_PHRASES:
        if name not in phrases_raw:
            raise check.fail(phrases_raw or top, f"phrase '{name}' is missing")
    phrases = {
        str(name): check.texts(value, phrases_raw, f"phrase '{name}'", languages)
        for name, value in phrases_raw.items()
    }
    statuses: dict[str, dict[str, dict[str, str]]] = {}
    for kind in ("order_statuses", "case_statuses", "topics", "language_names"):
        table = check.mapping(top.get(kind), top, kind)
        statuses[kind] = {
            str(code): check.texts(value, table, f"{kind} '{code}'", languages)
            for code, value in table.items()
        }
    schedules = {
        str(name): check.schedule(str(name), value, top)
        for name, value in check.mapping(top.get("hours"), top, "hours").items()
    }

    nodes_raw = check.mapping(top.get("nodes"), top, "nodes")
    nodes = {
        str(node_id): _node(check, str(node_id), spec, nodes_raw, languages)
        for node_id, spec in nodes_raw.items()
    }
    start = str(top.get("start", ""))
    if start not in nodes:
        raise check.fail(top, f"start node {start!r} is not defined under 'nodes'")
    for node in nodes.values():
        _check_links(check, node, nodes, schedules, languages)
        if (
            node.type == "queue"
            and node.settings.get("record", True)
            and ("recording_notice" not in phrases)
        ):
            raise MenuError(
                f"{check.source}, line {node.line_of('record')}: node '{node.id}': its "
                "conversations are recorded (record is on by default), so phrase "
                "'recording_notice' is needed under 'phrases' (or set record: false)"
            )
    _check_passthrough_cycles(check, nodes)

    return Menu(
        source=source,
        start=start,
        timezone=timezone,
        languages=languages,
        nodes=nodes,
        phrases=phrases,
        order_statuses=statuses["order_statuses"],
        case_statuses=statuses["case_statuses"],
        schedules=schedules,
        max_attempts=check.positive_int(top.get("max_attempts", 3), top, "max_attempts"),
        gather_timeout=check.positive_int(top.get("gather_timeout", 6), top, "gather_timeout"),
        digits_timeout=check.positive_int(top.get("digits_timeout", 10), top, "digits_timeout"),
        reply_promise_minutes=check.positive_int(
            top.get("reply_promise_minutes", 15), top, "reply_promise_minutes"
        ),
        announce_every=check.positive_int(top.get("announce_every", 45), top, "announce_every"),
        hold_music=str(top.get("hold_music") or ""),
        topics=statuses["topics"],
        language_names=statuses["language_names"],
        dispositions=_dispositions(check, top, languages),
    )


def _dispositions(
    check: _Checker, top: Any, languages: dict[str, Voice]
) -> dict[str, dict[str, str]]:
    """The wrap-up codes: a list of ``{code: CODE, LANG: NAME, …}``, a name in every language."""
    items = top.get("dispositions") or []
    if not isinstance(items, list):
        raise check.fail(
            top, "dispositions must be a list of {code: …, zh: …, en: …}", key="dispositions"
        )
    found: dict[str, dict[str, str]] = {}
    lines = getattr(items, "item_lines", [])
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            line = lines[index] if index < len(lines) else 0
            raise check.fail(_Place(line), "each disposition must be {code: …, zh: …, en: …}")
        code = item.get("code")
        if not isinstance(code, str) or not re.fullmatch(r"[a-z0-9_]{1,40}", code):
            raise check.fail(item, f"disposition code {code!r} must be a-z, 0-9 and _ (at most 40)")
        if code in found:
            raise check.fail(item, f"disposition '{code}' is listed twice")
        names = {str(k): v for k, v in item.items() if k != "code"}
        for lang in names:
            if lang not in languages:
                problem = f"disposition '{code}': unknown language '{lang}'; the menu has {', '.join(languages)}"
                raise check.fail(item, problem, key=lang)
        for lang in languages:
            if not isinstance(names.get(lang), str) or not names[lang].strip():
                raise check.fail(item, f"disposition '{code}' has no name for language '{lang}'")
        found[code] = {lang: names[lang].strip() for lang in languages}
    return found


_COMMON = {"type", "prompt", "next", "fallback", "hours", "closed", "max_attempts", "options"}


_EXTRA = {
    "language": {"default", "foreign_default", "home_prefixes"},
    "menu": set(),
    "order_status": set(),
    "case_status": set(),
    "queue": {
        "queue",
        "max_size",
        "max_wait",
        "distribution",
        "strategy",
        "ring_timeout",
        "max_misses",
        "record",
    },
    "voicemail": {"category", "max_length", "finish_on_key"},
    "message": set(),
}


def _node(
    check: _Checker, node_id: str, spec: Any, where: Any, languages: dict[str, Voice]
) -> Node:
    spec = check.mapping(spec, where, "a node", node_id)
    kind = spec.get("type")
    if kind not in NODE_TYPES:
        raise check.fail(
            spec or where,
            f"type must be one of {', '.join(sorted(NODE_TYPES))}, not {kind!r}",
            node_id,
        )
    unknown = set(spec) - _COMMON - _EXTRA[kind]
    if unknown:
        first = min(unknown, key=lambda name: spec.key_lines.get(name, 0))
        raise check.fail(
            spec,
            f"unknown field(s) for a {kind} node: {', '.join(sorted(unknown))}",
            node_id,
            key=first,
        )
    option_spec = check.mapping(spec.get("options"), spec, "options", node_id)
    options = {str(k): str(v) for k, v in option_spec.items()}
    for key in options:
        if key == "*":
            raise check.fail(
                option_spec, "'*' always repeats the prompt and cannot be an option", node_id, key
            )
        if len(key) != 1 or key not in KEYS:
            raise check.fail(
                option_spec, f"option {key!r} must be a single key 0-9 or #", node_id, key
            )
    lines = dict(getattr(spec, "key_lines", {}))
    lines.update(
        {f"option '{k}'": line for k, line in getattr(option_spec, "key_lines", {}).items()}
    )
    max_attempts = spec.get("max_attempts")
    settings = {key: spec[key] for key in _EXTRA[kind] if key in spec}
    return Node(
        id=node_id,
        type=kind,
        line=getattr(spec, "line", 0),
        prompt=check.prompt(spec.get("prompt"), spec, node_id, languages),
        options=options,
        next=None if spec.get("next") is None else str(spec["next"]),
        fallback=None if spec.get("fallback") is None else str(spec["fallback"]),
        hours=None if spec.get("hours") is None else str(spec["hours"]),
        closed=None if spec.get("closed") is None else str(spec["closed"]),
        max_attempts=None
        if max_attempts is None
        else check.positive_int(max_attempts, spec, "max_attempts", node_id),
        settings=settings,
        lines=lines,
    )


def _check_links(
    check: _Checker,
    node: Node,
    nodes: dict[str, Node],
    schedules: dict[str, Schedule],
    languages: dict[str, Voice],
) -> None:
    def fail(problem: str, at: str = "") -> MenuError:
        line = node.line_of(at)
        return MenuError(f"{check.source}, line {line}: node '{node.id}': {problem}")

    links = {"next": node.next, "fallback": node.fallback, "closed": node.closed}
    if node.type != "language":
        links.update({f"option '{key}'": target for key, target in node.options.items()})
    for what, target in links.items():
        if target is not None and target not in nodes:
            raise fail(f"{what} leads to unknown node '{target}'", what)
    if node.hours is not None:
        if node.hours not in schedules:
            raise fail(f"hours '{node.hours}' is not defined under 'hours'", "hours")
        if node.closed is None:
            raise fail("a node with hours needs a 'closed' node to go to outside them")
    needs = {
        "language": ("next",),
        "menu": ("fallback",),
        "order_status": ("next", "fallback"),
        "case_status": ("next", "fallback"),
        "queue": ("fallback",),
    }.get(node.type, ())
    for name in needs:
        if links[name] is None:
            raise fail(f"a {node.type} node needs '{name}'")
    if node.type == "menu" and not node.options:
        raise fail("a menu node needs options")
    if node.type == "language":
        for key, code in node.options.items():
            if code not in languages:
                raise fail(
                    f"option '{key}' names language '{code}', which is not under 'languages'",
                    f"option '{key}'",
                )
        for name in ("default", "foreign_default"):
            code = node.settings.get(name)
            if code is not None and code not in languages:
                raise fail(f"{name} '{code}' is not under 'languages'", name)
        prefixes = node.settings.get("home_prefixes", [])
        if not isinstance(prefixes, list) or not all(isinstance(p, str) for p in prefixes):
            raise fail(
                "home_prefixes must be a list of number prefixes such as '+86'", "home_prefixes"
            )
    if node.type == "queue":
        if not re.fullmatch(r"[a-z0-9_]{1,40}", str(node.settings.get("queue", ""))):
            raise fail(
                "a queue node needs 'queue': its topic, in a-z, 0-9 and _ (at most 40)", "queue"
            )
        for name in ("max_size", "max_wait"):
            value = node.settings.get(name, 1)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise fail(f"{name} must be a whole number above 0", name)
        if node.settings.get("distribution", "automatic") not in ("manual", "automatic"):
            raise fail(
                "distribution must be 'automatic' (ring free agents) or 'manual'", "distribution"
            )
        if node.settings.get("strategy", "longest_idle") not in ("longest_idle", "round_robin"):
            raise fail("strategy must be 'longest_idle' or 'round_robin'", "strategy")
        if not isinstance(node.settings.get("record", True), bool):
            raise fail("record must be true or false (conversations recorded or not)", "record")
        for name, low, high in (("ring_timeout", 5, 120), ("max_misses", 1, 10)):
            value = node.settings.get(name, low)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise fail(f"{name} must be a whole number from {low} to {high}", name)
    if node.type == "voicemail":
        length = node.settings.get("max_length", 120)
        if isinstance(length, bool) or not isinstance(length, int) or not 5 <= length <= 3600:
            raise fail("max_length must be between 5 and 3600 seconds", "max_length")
        keys = str(node.settings.get("finish_on_key", "#"))
        if not keys or set(keys) - (KEYS | {"*"}):
            raise fail("finish_on_key must be keys from 0-9, # and *", "finish_on_key")


def _check_passthrough_cycles(check: _Checker, nodes: dict[str, Node]) -> None:
    """Refuse loops of nodes that move on without waiting for the caller (endless speech)."""
    for start in nodes:
        seen: list[str] = []
        current: str | None = start
        while current is not None:
            node = nodes[current]
            if current in seen:
                loop = " -> ".join([*seen[seen.index(current) :], current])
                raise MenuError(
                    f"{check.source}, line {node.line}: node '{current}': "
                    f"these nodes pass the caller on without waiting for input, in a loop: {loop}"
                )
            seen.append(current)
            current = node.next if node.type == "message" else None
