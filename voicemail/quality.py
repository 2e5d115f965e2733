"""Quality checks: the rules applied to a conversation's turns or a message's transcript.

Pure functions: what was said in, tags, a score and the matched words (with the turn and the
character offsets a page highlights) out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from voicemail.quality_rules import FORBIDDEN_TAG, Phrase, QualityRules

FLAG, EXPECTED, FORBIDDEN, TOPIC = "flag", "expected", "forbidden", "topic"
CUSTOMER, AGENT = "customer", "agent"


@dataclass(frozen=True)
class Match:
    """A phrase of the rules found in the text: ``turn`` is the turn's index (None in a
    message), ``start``/``end`` character offsets into that turn's or the message's text."""

    kind: str  # flag, expected, forbidden or topic
    tag: str  # the flag's tag, the expectation's name, forbidden_phrase, or the topic
    phrase: str
    turn: int | None
    start: int
    end: int
    text: str

    def as_json(self) -> dict[str, Any]:
        """The match as stored with the check."""
        return vars(self).copy()


@dataclass(frozen=True)
class Verdict:
    """What the rules found: tags, a score out of 100, the matches, and maybe a topic."""

    score: int
    tags: list[str]
    matches: list[Match] = field(default_factory=list)
    suggested_topic: str | None = None

    @property
    def flags(self) -> list[str]:
        """The tags that came from flag phrases."""
        return sorted({m.tag for m in self.matches if m.kind == FLAG} & set(self.tags))


def find(
    phrases: Iterable[Phrase], text: str, kind: str, tag: str, turn: int | None = None
) -> list[Match]:
    """Every place in ``text`` where one of ``phrases`` is said."""
    return [
        Match(kind, tag, phrase.text, turn, found.start(), found.end(), found.group())
        for phrase in phrases
        for found in phrase.pattern.finditer(text)
    ]


def score(rules: QualityRules, tags: Iterable[str]) -> int:
    """100 less the weight of each tag, never below 0."""
    return max(0, 100 - sum(rules.weights.get(tag, 0) for tag in set(tags)))


def suggest_topic(
    rules: QualityRules, texts: Sequence[tuple[int | None, str]]
) -> tuple[str | None, list[Match]]:
    """The topic whose words are said most (the file's order breaks ties), and its matches."""
    best: tuple[str | None, list[Match]] = (None, [])
    for topic, words in rules.topics.items():
        found = [m for turn, text in texts for m in find(words, text, TOPIC, topic, turn)]
        if len(found) > len(best[1]):
            best = (topic, found)
    return best


def _verdict(
    rules: QualityRules, matches: list[Match], missing: list[str], topic: str | None
) -> Verdict:
    tags = [tag for tag in rules.tags() if tag in missing or any(
        m.tag == tag and m.kind == FLAG for m in matches
    )]  # fmt: skip
    if any(m.kind == FORBIDDEN for m in matches):
        tags.append(FORBIDDEN_TAG)
    ordered = sorted(matches, key=lambda m: (m.turn if m.turn is not None else -1, m.start))
    return Verdict(score(rules, tags), tags, ordered, topic)


def check_message(rules: QualityRules, transcript: str, category: str) -> Verdict:
    """A voice message: flags in its transcript, and a topic if it was left under a general one."""
    matches = [
        m for tag, phrases in rules.flags.items() for m in find(phrases, transcript, FLAG, tag)
    ]
    topic = None
    if category in rules.suggest_for:
        topic, words = suggest_topic(rules, [(None, transcript)])
        matches += words
    return _verdict(rules, matches, [], topic)


def check_conversation(
    rules: QualityRules, turns: Sequence[dict[str, Any]], queue: str = ""
) -> Verdict:
    """A conversation: flags in what the customer says, expected and forbidden phrases in the
    agent's turns, and a topic if the caller came through a general queue."""
    matches: list[Match] = []
    agent_turns = [i for i, turn in enumerate(turns) if turn.get("speaker") == AGENT]
    for index, turn in enumerate(turns):
        text = str(turn.get("text") or "")
        if turn.get("speaker") == AGENT:
            matches += find(rules.forbidden, text, FORBIDDEN, FORBIDDEN_TAG, index)
        else:
            # An agent may well say "complaint" ("I'm sorry about the complaint"); a flag is
            # about what the customer threatens.
            for tag, phrases in rules.flags.items():
                matches += find(phrases, text, FLAG, tag, index)
    missing = []
    for expectation in rules.expected:
        looked_at = {
            "start": agent_turns[: expectation.turns],
            "end": agent_turns[-expectation.turns :],
            "any": agent_turns,
        }[expectation.at]
        said = [
            m
            for index in looked_at
            for m in find(
                expectation.phrases,
                str(turns[index].get("text") or ""),
                EXPECTED,
                expectation.name,
                index,
            )
        ]
        matches += said
        if not said:
            missing.append(expectation.tag)
    topic = None
    if queue in rules.suggest_for:
        spoken = [
            (i, str(t.get("text") or "")) for i, t in enumerate(turns) if i not in agent_turns
        ]
        topic, words = suggest_topic(rules, spoken)
        matches += words
    return _verdict(rules, matches, missing, topic)


def highlighted(text: str, matches: Iterable[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """``text`` cut into pieces, each with the kind of match it is (None for plain text);
    overlapping matches are joined, the first kind wins."""
    spans: list[list[Any]] = []
    for m in sorted(matches, key=lambda m: (m["start"], -m["end"])):
        start, end = max(0, int(m["start"])), min(len(text), int(m["end"]))
        if start >= end:
            continue
        if spans and start < spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end, m["kind"]])
    pieces: list[tuple[str, str | None]] = []
    at = 0
    for start, end, kind in spans:
        if start > at:
            pieces.append((text[at:start], None))
        pieces.append((text[start:end], kind))
        at = end
    if at < len(text):
        pieces.append((text[at:], None))
    return pieces
