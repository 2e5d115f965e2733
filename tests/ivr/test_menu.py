"""The menu file: the default is complete, broken files are refused with a useful message."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from ivr.callflow.menu import MenuError
from ivr.callflow.menu_file import load_menu, parse_menu
from ivr.settings import DEFAULT_MENU
from tests.factories import default_raw


def write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "menu.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_default_menu_has_the_designed_options() -> None:
    menu = load_menu(DEFAULT_MENU)
    assert menu.start == "language"
    assert menu.nodes["language"].options == {"1": "zh", "2": "en"}
    main = menu.nodes["main"]
    assert {k: menu.nodes[v].type for k, v in main.options.items()} == {
        "1": "queue",
        "2": "order_status",
        "3": "queue",
        "4": "queue",
        "5": "case_status",
        "9": "voicemail",
        "0": "queue",
    }
    assert menu.languages["zh"].say_language == "cmn-CN"
    assert menu.languages["zh"].voice.startswith("Polly.Zhiyu")
    assert menu.languages["en"].say_language == "en-US"
    # Every prompt and phrase speaks both languages.
    for node in menu.nodes.values():
        assert set(node.prompt) == {"zh", "en"}, node.id
    assert menu.reply_promise_minutes == 15


def test_default_menu_is_open_around_the_clock() -> None:
    menu = load_menu(DEFAULT_MENU)
    night = datetime(2026, 11, 24, 18, 30, tzinfo=UTC)  # 02:30 in Shanghai
    assert all(menu.is_open(node, night) for node in menu.nodes.values())


def test_unknown_target_names_node_and_line(tmp_path: Path) -> None:
    raw = default_raw()
    raw["nodes"]["main"]["options"]["3"] = "paymnet"
    with pytest.raises(MenuError) as error:
        load_menu(write(tmp_path, raw))
    message = str(error.value)
    assert "node 'main'" in message
    assert "unknown node 'paymnet'" in message
    assert "line " in message


def test_voice_without_language_is_refused(tmp_path: Path) -> None:
    raw = default_raw()
    del raw["languages"]["zh"]["say_language"]
    with pytest.raises(MenuError, match="language 'zh' needs say_language and voice together"):
        load_menu(write(tmp_path, raw))


def test_prompt_missing_a_language_is_refused(tmp_path: Path) -> None:
    raw = default_raw()
    del raw["nodes"]["delivery"]["prompt"]["en"]
    with pytest.raises(MenuError, match="node 'delivery': prompt has nothing for language 'en'"):
        load_menu(write(tmp_path, raw))


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "menu.yaml"
    path.write_text("start: language\nnodes:\n  main: [unclosed\n", encoding="utf-8")
    with pytest.raises(MenuError, match=r"line \d+: not valid YAML"):
        load_menu(path)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda raw: raw["nodes"]["main"].update(type="menuu"), "type must be one of"),
        (lambda raw: raw["nodes"]["main"]["options"].update({"12": "agent"}), "single key"),
        (lambda raw: raw["nodes"]["main"].update(colour="red"), "unknown field(s)"),
        (lambda raw: raw["nodes"]["agent"].pop("queue"), "needs 'queue'"),
        (lambda raw: raw["nodes"]["main"].update(hours="office"), "hours 'office' is not defined"),
        (lambda raw: raw["nodes"]["message"].update(max_length=2), "max_length"),
        (lambda raw: raw.update(start="nowhere"), "start node 'nowhere'"),
        (lambda raw: raw["phrases"].pop("goodbye"), "phrase 'goodbye' is missing"),
        (lambda raw: raw.update(timezone="Mars/Olympus"), "unknown timezone"),
        (lambda raw: raw["nodes"]["closed"].update(next="closed"), "in a loop: closed -> closed"),
        (lambda raw: raw["nodes"]["agent"].update(distribution="auto"), "distribution must be"),
        (lambda raw: raw["nodes"]["agent"].update(ring_timeout=2), "ring_timeout must be"),
        (lambda raw: raw["nodes"]["agent"].update(max_misses=True), "max_misses must be"),
        (lambda raw: raw["nodes"]["agent"].update(strategy="random"), "strategy must be"),
    ],
)
def test_broken_menus_are_refused(tmp_path: Path, change, problem: str) -> None:
    raw = default_raw()
    change(raw)
    with pytest.raises(MenuError) as error:
        load_menu(write(tmp_path, raw))
    assert problem in str(error.value)


def test_recorded_prompts_and_lists(tmp_path: Path) -> None:
    raw = default_raw()
    raw["nodes"]["main"]["prompt"]["zh"] = [
        {"play": "https://cdn.example.com/main-zh.mp3"},
        "重听请按星号键。",
    ]
    menu = parse_menu(yaml.safe_load(yaml.safe_dump(raw, allow_unicode=True)))
    kinds = [(s.kind, s.value) for s in menu.nodes["main"].prompt["zh"]]
    assert kinds == [("play", "https://cdn.example.com/main-zh.mp3"), ("say", "重听请按星号键。")]


def test_hours_and_holidays_in_shanghai_time() -> None:
    raw = default_raw()
    raw["hours"] = {
        "office": {
            "weekly": {"mon-fri": "09:00-18:00", "sat": ["10:00-12:00", "13:00-15:00"]},
            "holidays": ["2026-10-01"],
        }
    }
    raw["nodes"]["agent"].update(hours="office", closed="closed")
    menu = parse_menu(raw)
    agent = menu.nodes["agent"]
    # Tuesday 2026-11-24: 01:00 UTC is 09:00 in Shanghai (open), 10:00 UTC is 18:00 (closed).
    assert menu.is_open(agent, datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    assert not menu.is_open(agent, datetime(2026, 11, 24, 10, 0, tzinfo=UTC))
    assert not menu.is_open(agent, datetime(2026, 11, 23, 23, 59, tzinfo=UTC))  # 07:59 local
    # Saturday 2026-11-28: open 10-12 and 13-15 local.
    assert menu.is_open(agent, datetime(2026, 11, 28, 3, 0, tzinfo=UTC))  # 11:00
    assert not menu.is_open(agent, datetime(2026, 11, 28, 4, 30, tzinfo=UTC))  # 12:30
    # Sunday: closed; a weekday holiday: closed.
    assert not menu.is_open(agent, datetime(2026, 11, 29, 3, 0, tzinfo=UTC))
    assert not menu.is_open(agent, datetime(2026, 10, 1, 3, 0, tzinfo=UTC))
    # Nodes without hours stay open.
    assert menu.is_open(menu.nodes["main"], datetime(2026, 10, 1, 3, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("original", "mistake", "problem"),
    [
        ('"3": payment', '"3": paymnet', "option '3' leads to unknown node 'paymnet'"),
        ("max_length: 180", "max_length: 2", "max_length must be between 5 and 3600"),
        ("category: general", "category: general\n    colour: red", "unknown field(s)"),
        ("max_attempts: 3", "max_attempts: three", "max_attempts must be a whole number"),
    ],
)
def test_an_error_names_the_line_of_the_mistake_itself(
    tmp_path: Path, original: str, mistake: str, problem: str
) -> None:
    text = DEFAULT_MENU.read_text(encoding="utf-8")
    assert original in text
    edited = text.replace(original, mistake, 1)
    # The line where the mistaken word stands, not where its node begins.
    offending = mistake.splitlines()[-1].strip()
    line = next(n for n, x in enumerate(edited.splitlines()) if x.strip().startswith(offending))
    path = tmp_path / "menu.yaml"
    path.write_text(edited, encoding="utf-8")
    with pytest.raises(MenuError) as error:
        load_menu(path)
    assert f", line {line + 1}: " in str(error.value)
    assert problem in str(error.value)


def test_the_shipped_menu_names_every_disposition_in_both_languages() -> None:
    menu = load_menu(DEFAULT_MENU)
    assert list(menu.dispositions)[:3] == ["resolved", "follow_up", "order_issue"]
    assert menu.name_of(menu.dispositions, "refund", "zh") == "退款"
    assert menu.name_of(menu.dispositions, "wrong_number", "en") == "Wrong number"
    assert all(set(names) == {"zh", "en"} for names in menu.dispositions.values())


REFUND = "{code: refund, zh: 退款, en: Refund}"


@pytest.mark.parametrize(
    ("mistake", "problem"),
    [
        ("{code: refund, zh: 退款, en: Refund, fr: Remboursement}",
         "disposition 'refund': unknown language 'fr'; the menu has zh, en"),
        ("{code: refund, zh: 退款}", "disposition 'refund' has no name for language 'en'"),
        ("{code: refund, zh: 退款, en: '  '}", "disposition 'refund' has no name for language 'en'"),
        ("{code: resolved, zh: 退款, en: Refund}", "disposition 'resolved' is listed twice"),
        ("{code: Refund!, zh: 退款, en: Refund}", "disposition code 'Refund!' must be a-z"),
        ("{zh: 退款, en: Refund}", "disposition code None must be a-z"),
        ("refund", "each disposition must be {code: …, zh: …, en: …}"),
        # In block style the line is the mistaken key's own, not the item's first.
        ("code: refund\n    zh: 退款\n    en: Refund\n    fr: Remboursement",
         "unknown language 'fr'"),
    ],
)  # fmt: skip
def test_a_broken_disposition_is_refused_with_its_line(
    tmp_path: Path, mistake: str, problem: str
) -> None:
    text = DEFAULT_MENU.read_text(encoding="utf-8")
    assert REFUND in text
    edited = text.replace(REFUND, mistake, 1)
    offending = mistake.splitlines()[-1].strip()
    line = next(n for n, x in enumerate(edited.splitlines()) if offending in x)
    path = tmp_path / "menu.yaml"
    path.write_text(edited, encoding="utf-8")
    with pytest.raises(MenuError) as error:
        load_menu(path)
    assert f", line {line + 1}: " in str(error.value)
    assert problem in str(error.value)


def test_dispositions_must_be_a_list_and_may_be_left_out(tmp_path: Path) -> None:
    raw = default_raw()
    raw["dispositions"] = {"resolved": {"zh": "已解决", "en": "Resolved"}}
    with pytest.raises(MenuError, match="dispositions must be a list"):
        load_menu(write(tmp_path, raw))
    del raw["dispositions"]
    assert load_menu(write(tmp_path, raw)).dispositions == {}
