"""Quality rules and the checker: the shipped file, broken files refused by line, zh and en texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicemail.quality import check_conversation, check_message, highlighted
from voicemail.quality_rules import DEFAULT_RULES, QualityRulesError, load_rules

pytestmark = pytest.mark.nodb

RULES = load_rules(DEFAULT_RULES)


def turn(speaker: str, text: str) -> dict[str, object]:
    return {"speaker": speaker, "start": 0.0, "end": 1.0, "text": text, "words": []}


def said(verdict, kind: str) -> list[tuple[int | None, str]]:
    return [(m.turn, m.text) for m in verdict.matches if m.kind == kind]


def test_a_good_chinese_conversation_scores_full_marks() -> None:
    verdict = check_conversation(RULES, [
        turn("agent", "您好，很高兴为您服务"),
        turn("customer", "我的快递三天了还没到"),
        turn("agent", "我帮您查一下物流"),
        turn("customer", "好的谢谢"),
        turn("agent", "还有什么可以帮您？再见"),
    ], queue="product")  # fmt: skip
    assert verdict.tags == [] and verdict.score == 100
    assert said(verdict, "expected") == [
        (0, "您好"),
        (0, "很高兴为您服务"),
        (4, "还有什么可以帮您"),
        (4, "再见"),
    ]
    assert verdict.suggested_topic is None  # a product queue needs no suggestion


def test_a_complaint_and_a_rude_agent_in_chinese_with_the_recogniser_spaces() -> None:
    turns = [
        turn("agent", "喂"),
        turn("customer", "你们 再 不 处理 我 就 打 1 2 3 1 5 投 诉"),
        turn("agent", "这个 不 归 我 管 你 自己 看"),
    ]
    verdict = check_conversation(RULES, turns)
    assert verdict.tags == ["complaint", "no_greeting", "no_closing", "forbidden_phrase"]
    assert verdict.score == 100 - 30 - 15 - 15 - 30
    assert said(verdict, "flag") == [(1, "1 2 3 1 5"), (1, "投 诉")]
    assert said(verdict, "forbidden") == [(2, "不 归 我 管"), (2, "你 自己 看")]
    # The offsets are into the turn's own text, for the page to mark.
    complaint = next(m for m in verdict.matches if m.text == "投 诉")
    assert turns[1]["text"][complaint.start : complaint.end] == "投 诉"  # type: ignore[index]
    assert verdict.flags == ["complaint"]


def test_the_agent_saying_complaint_is_no_flag_but_the_customer_is() -> None:
    verdict = check_conversation(RULES, [
        turn("agent", "Hello, how can I help?"),
        turn("customer", "I will sue you and call my lawyer. This is a complaint!"),
        turn("agent", "I understand your complaint. Not my problem though. Goodbye."),
    ])  # fmt: skip
    assert verdict.tags == ["complaint", "legal", "forbidden_phrase"]
    assert said(verdict, "flag") == [(1, "sue"), (1, "lawyer"), (1, "complaint")]
    assert said(verdict, "forbidden") == [(2, "Not my problem")]
    assert verdict.score == 100 - 30 - 40 - 30


def test_english_words_match_whole_and_in_any_case() -> None:
    verdict = check_message(
        RULES, "There is an issue with the suede. SUE them? No: Lawyers.", "product"
    )
    assert said(verdict, "flag") == [(None, "SUE")]  # not "issue", "suede" or "Lawyers"
    assert verdict.tags == ["legal"] and verdict.score == 60


def test_greeting_only_counts_at_the_start_and_closing_at_the_end() -> None:
    verdict = check_conversation(RULES, [
        turn("agent", "请问有什么事"),
        turn("customer", "你好"),
        turn("agent", "稍等"),
        turn("agent", "好的"),
        turn("agent", "再见。您好"),  # 您好 in the agent's 4th turn is no greeting
    ])  # fmt: skip
    assert verdict.tags == ["no_greeting"]


def test_a_message_left_under_general_gets_a_topic_from_its_words() -> None:
    verdict = check_message(RULES, "我 的 快递 还 没 到 物流 一直 不 更新 退款 也 没有", "general")
    assert verdict.suggested_topic == "delivery"  # two delivery words against one payment
    assert said(verdict, "topic") == [(None, "快递"), (None, "物流")]
    assert verdict.tags == [] and verdict.score == 100
    english = check_message(RULES, "I was charged twice, I want a refund", "general")
    assert english.suggested_topic == "payment"
    assert check_message(RULES, "我 的 快递 还 没 到", "after_sales").suggested_topic is None
    assert check_message(RULES, "喂 喂", "general").suggested_topic is None


def test_a_message_with_a_flag_and_no_agent_rules() -> None:
    verdict = check_message(RULES, "再不退款我就找媒体曝光你们", "after_sales")
    assert verdict.tags == ["media"]  # messages have no agent: no greeting is expected
    assert said(verdict, "flag") == [(None, "媒体"), (None, "曝光")]


def test_highlighting_joins_overlapping_matches() -> None:
    text = "abcdef"
    pieces = highlighted(text, [{"start": 1, "end": 3, "kind": "flag"},
                                {"start": 2, "end": 4, "kind": "topic"}])  # fmt: skip
    assert pieces == [("a", None), ("bcd", "flag"), ("ef", None)]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "quality.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """\
flags:
  complaint: [投诉, complaint]
expected:
  greeting: {at: start, phrases: [您好]}
forbidden: [不知道]
weights:
  complaint: 30
  no_greeting: 10
  forbidden_phrase: 20
topics:
  delivery: [快递]
"""


def test_a_small_file_loads(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, GOOD))
    assert rules.tags() == ["complaint", "no_greeting", "forbidden_phrase"]
    assert rules.weights == {"complaint": 30, "no_greeting": 10, "forbidden_phrase": 20}
    assert rules.suggest_for == frozenset({"general"})


@pytest.mark.parametrize(
    ("change", "line", "problem"),
    [
        (
            ("  complaint: [投诉, complaint]", "  complaint: 投诉"),
            2,
            "flag 'complaint' must be a list of phrases",
        ),
        (
            ("  complaint: [投诉, complaint]", "  Complaint!: [投诉]"),
            2,
            "flag tag 'Complaint!' must be a-z, 0-9 and _",
        ),
        (
            ("  complaint: [投诉, complaint]", "  complaint: [投诉, 投 诉]"),
            2,
            "'投 诉' is listed twice",
        ),
        (
            ("{at: start, phrases: [您好]}", "{at: middle, phrases: [您好]}"),
            4,
            "at must be start, end or any, not 'middle'",
        ),
        (
            ("{at: start, phrases: [您好]}", "{at: start, turn: 2, phrases: [您好]}"),
            4,
            "unknown field 'turn'",
        ),
        (("forbidden: [不知道]", "forbidden: [不知道, ~]"), 5, "None is not a phrase"),
        (
            ("  complaint: 30", "  complaint: 300"),
            7,
            "weight 'complaint' must be a whole number from 0 to 100",
        ),
        (
            ("  forbidden_phrase: 20", "  forbiden_phrase: 20"),
            9,
            "weight for unknown tag 'forbiden_phrase'",
        ),
        (("  no_greeting: 10\n", ""), 6, "tag 'no_greeting' has no weight"),
        (("topics:", "topic:"), 10, "unknown section 'topic'"),
        (("  delivery: [快递]", "  delivery: [快递, '!!']"), 11, "'!!' has no letters or digits"),
        (("  complaint: 30", "  complaint: [30"), 8, "not valid YAML"),
    ],
)
def test_a_broken_file_is_refused_naming_the_line(
    tmp_path: Path, change: tuple[str, str], line: int, problem: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(QualityRulesError) as refused:
        load_rules(path)
    message = str(refused.value)
    assert message.startswith(f"{path}, line {line}: "), message
    assert problem in message


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(QualityRulesError, match="cannot read the quality rules"):
        load_rules(tmp_path / "nowhere.yaml")


def test_the_readme_example_is_a_working_rules_file(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quality checks", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    rules = load_rules(write(tmp_path, example))
    verdict = check_message(rules, "我 要 投诉 你们 的 快递", "general")
    assert (verdict.tags, verdict.suggested_topic) == (["complaint"], "delivery")
