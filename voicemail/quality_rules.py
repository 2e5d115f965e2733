"""The quality rules file: phrases that flag, that agents should and must not say, weights, topics.

Read and checked at start-up like the menu: a mistake stops the service with the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from ivr.settings import ConfigError

DEFAULT_RULES = Path(__file__).with_name("quality.yaml")
SECTIONS = ("flags", "expected", "forbidden", "weights", "suggest_for", "topics")
CODE = re.compile(r"[a-z0-9_]{1,40}")
FORBIDDEN_TAG = "forbidden_phrase"
PLACES = ("start", "end", "any")

# Scripts written without spaces between words: a phrase in them matches with or without spaces
# between its characters (transcripts may still carry the recogniser's spaces).
_UNSPACED = "\u2e80-\u9fff\uf900-\ufaff"
# A letter or digit of a script written with spaces between words: none may touch a whole word.
_WORD_EDGE = f"[^\\W_{_UNSPACED}]"


class QualityRulesError(ConfigError):
    """The rules file is broken; the message names the file, the line and the problem."""


@dataclass(frozen=True)
class Phrase:
    """One phrase of the rules, and the pattern that finds it in a transcript."""

    text: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Expectation:
    """Phrases an agent is expected to say (one of them), where in the conversation."""

    name: str
    at: str  # "start", "end" or "any"
    turns: int  # how many of the agent's turns at the start or end are looked at
    phrases: tuple[Phrase, ...]

    @property
    def tag(self) -> str:
        """The tag a conversation gets when the agent said none of the phrases."""
        return f"no_{self.name}"


@dataclass(frozen=True)
class QualityRules:
    """Everything the checker applies, read from the rules file."""

    source: str
    flags: dict[str, tuple[Phrase, ...]]
    expected: tuple[Expectation, ...]
    forbidden: tuple[Phrase, ...]
    weights: dict[str, int]
    topics: dict[str, tuple[Phrase, ...]]
    suggest_for: frozenset[str]

    def tags(self) -> list[str]:
        """Every tag the rules can give, in the file's order."""
        tags = [*self.flags, *(e.tag for e in self.expected)]
        return [*tags, FORBIDDEN_TAG] if self.forbidden else tags


def unspaced(char: str) -> bool:
    """Whether ``char`` belongs to a script written without spaces (Chinese, Japanese)."""
    return bool(re.fullmatch(f"[{_UNSPACED}]", char))


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A pattern for ``phrase``: Chinese with or without spaces between its characters (and
    digits, which the recogniser may space out), other words whole and in any case."""
    pieces: list[str] = []
    previous = ""
    gap = False
    for char in phrase.strip():
        if char.isspace():
            gap = True
            continue
        if previous:
            if unspaced(previous) or unspaced(char) or (previous.isdigit() and char.isdigit()):
                pieces.append(r"\s*")
            elif gap:
                pieces.append(r"\s+")
        pieces.append(re.escape(char))
        previous, gap = char, False
    text = phrase.strip()
    if text and not unspaced(text[0]) and re.match(r"\w", text[0]):
        pieces.insert(0, f"(?<!{_WORD_EDGE})")
    if text and not unspaced(text[-1]) and re.match(r"\w", text[-1]):
        pieces.append(f"(?!{_WORD_EDGE})")
    return re.compile("".join(pieces), re.IGNORECASE)


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml: 10x faster
    """A YAML loader that remembers the line of every mapping key and list item."""


class _LineDict(dict[str, Any]):
    line: int = 0
    key_lines: dict[str, int] = {}  # noqa: RUF012 (set per instance by the loader)


class _LineList(list[Any]):
    line: int = 0
    item_lines: list[int] = []  # noqa: RUF012 (set per instance by the loader)


def _mapping(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    mapping = _LineDict(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {str(key.value): key.start_mark.line + 1 for key, _ in node.value}
    return mapping


def _sequence(loader: _LineLoader, node: yaml.SequenceNode) -> _LineList:
    sequence = _LineList(loader.construct_sequence(node, deep=True))
    sequence.line = node.start_mark.line + 1
    sequence.item_lines = [item.start_mark.line + 1 for item in node.value]
    return sequence


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


class _Checker:
    """Builds QualityRules from parsed YAML; the first problem is raised with its line."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.seen: dict[str, dict[str, str]] = {}  # section -> phrase (folded) -> where

    def fail(self, line: int, problem: str) -> QualityRulesError:
        place = f"{self.source}, line {line}" if line else self.source
        return QualityRulesError(f"{place}: {problem}")

    def line_of(self, where: Any, key: str | None = None) -> int:
        return getattr(where, "key_lines", {}).get(key) or getattr(where, "line", 0)

    def mapping(self, value: Any, where: Any, key: str, what: str) -> dict[str, Any]:
        if value is None:
            return _LineDict()
        if not isinstance(value, dict):
            raise self.fail(self.line_of(where, key), f"{what} must be a mapping")
        return value

    def code(self, value: Any, where: Any, what: str) -> str:
        if not isinstance(value, str) or not CODE.fullmatch(value):
            problem = f"{what} {value!r} must be a-z, 0-9 and _ (at most 40)"
            raise self.fail(self.line_of(where, str(value)), problem)
        return value

    def phrases(self, value: Any, where: Any, key: str, what: str, section: str) -> tuple:
        line = self.line_of(where, key)
        if not isinstance(value, list) or not value:
            raise self.fail(line, f"{what} must be a list of phrases, e.g. [投诉, complaint]")
        lines = getattr(value, "item_lines", [])
        found = []
        seen = self.seen.setdefault(section, {})
        for index, item in enumerate(value):
            at = lines[index] if index < len(lines) else line
            # 12315 is read by YAML as a number: a phrase all the same.
            if isinstance(item, bool) or not isinstance(item, str | int) or not str(item).strip():
                raise self.fail(at, f"{what}: {item!r} is not a phrase (text, e.g. 投诉)")
            text = " ".join(str(item).split())
            if not re.search(r"\w", text):
                raise self.fail(at, f"{what}: {text!r} has no letters or digits to find")
            folded = "".join(text.split()).casefold()
            if folded in seen:
                raise self.fail(at, f"{what}: {text!r} is listed twice ({seen[folded]} too)")
            seen[folded] = what
            found.append(Phrase(text, phrase_pattern(text)))
        return tuple(found)

    def whole_number(self, value: Any, where: Any, key: str, what: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            problem = f"{what} must be a whole number from {low} to {high}, not {value!r}"
            raise self.fail(self.line_of(where, key), problem)
        return value


def load_rules(path: str | Path = "") -> QualityRules:
    """Read and check a rules file (empty: the shipped one); raise QualityRulesError naming the
    line and problem."""
    path = str(path) or DEFAULT_RULES
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise QualityRulesError(
            f"{source}: cannot read the quality rules ({exc.strerror})"
        ) from None
    try:
        raw = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise QualityRulesError(f"{source}{line}: not valid YAML ({problem})") from None
    return parse_rules(raw, source)


def parse_rules(raw: Any, source: str = "quality rules") -> QualityRules:
    """Check parsed YAML and build the rules."""
    check = _Checker(source)
    top = check.mapping(raw, raw, "", "the quality rules file")
    for key in top:
        if key not in SECTIONS:
            problem = f"unknown section {key!r}; the file has {', '.join(SECTIONS)}"
            raise check.fail(check.line_of(top, key), problem)

    flags_raw = check.mapping(top.get("flags"), top, "flags", "flags")
    flags = {
        check.code(tag, flags_raw, "flag tag"): check.phrases(
            phrases, flags_raw, tag, f"flag '{tag}'", "flags"
        )
        for tag, phrases in flags_raw.items()
    }

    expected = []
    expected_raw = check.mapping(top.get("expected"), top, "expected", "expected")
    for name, spec in expected_raw.items():
        check.code(name, expected_raw, "expected phrases' name")
        spec = check.mapping(spec, expected_raw, name, f"expected '{name}'")
        for key in spec:
            if key not in ("at", "turns", "phrases"):
                problem = f"expected '{name}': unknown field {key!r} (at, turns, phrases)"
                raise check.fail(check.line_of(spec, key), problem)
        at = spec.get("at", "any")
        if at not in PLACES:
            problem = f"expected '{name}': at must be start, end or any, not {at!r}"
            raise check.fail(check.line_of(spec, "at"), problem)
        turns = check.whole_number(
            spec.get("turns", 2), spec, "turns", f"expected '{name}': turns", 1, 50
        )
        phrases = check.phrases(
            spec.get("phrases"), spec, "phrases", f"expected '{name}'", f"expected {name}"
        )
        expected.append(Expectation(name, at, turns, phrases))

    forbidden: tuple[Phrase, ...] = ()
    if top.get("forbidden") is not None:
        forbidden = check.phrases(top["forbidden"], top, "forbidden", "forbidden", "forbidden")

    topics_raw = check.mapping(top.get("topics"), top, "topics", "topics")
    topics = {
        check.code(code, topics_raw, "topic"): check.phrases(
            words, topics_raw, code, f"topic '{code}'", "topics"
        )
        for code, words in topics_raw.items()
    }
    suggest_raw = top.get("suggest_for", ["general"])
    if not isinstance(suggest_raw, list):
        raise check.fail(check.line_of(top, "suggest_for"), "suggest_for must be a list of topics")
    suggest_for = frozenset(check.code(code, top, "suggest_for topic") for code in suggest_raw)

    rules = QualityRules(
        source=source,
        flags=flags,
        expected=tuple(expected),
        forbidden=forbidden,
        weights={},
        topics=topics,
        suggest_for=suggest_for,
    )
    weights_raw = check.mapping(top.get("weights"), top, "weights", "weights")
    tags = rules.tags()
    for tag, weight in weights_raw.items():
        if tag not in tags:
            problem = f"weight for unknown tag {tag!r}; the rules give {', '.join(tags)}"
            raise check.fail(check.line_of(weights_raw, tag), problem)
        check.whole_number(weight, weights_raw, tag, f"weight '{tag}'", 0, 100)
    for tag in tags:
        if tag not in weights_raw:
            line = check.line_of(top, "weights")
            raise check.fail(line, f"tag '{tag}' has no weight under 'weights' (0 to 100)")
    return replace(rules, weights={tag: weights_raw[tag] for tag in tags})
