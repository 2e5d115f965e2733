"""Transcripts as people write: Chinese without spaces, numbers as digits where they are numbers.

Vosk writes words apart and numbers as words ("我 的 订单 号 是 一 二 三 四"). cn2an gives the
value of a Chinese numeral; which numerals are numbers is decided here, by what is around
them, because ``cn2an.transform`` also turns 一下, 一起 and 一样 into "1下", "1起", "1样".
Only the text changes: a message keeps its raw words and their timings.
"""

from __future__ import annotations

import difflib
import re
import warnings
from dataclasses import dataclass
from typing import Any

import cn2an

from ivr.callflow.orders import ORDER_NUMBER

HAN = r"\u3400-\u4dbf\u4e00-\u9fff"
DIGIT = "零〇一二三四五六七八九幺"
NUMERAL = DIGIT + "两十百千万亿"
_HAN_SPACE = re.compile(rf"(?<=[{HAN}]) (?=[{HAN}])")
_RUN = re.compile(f"[{NUMERAL}]+")
_DIGIT_RUN = re.compile(f"[{DIGIT}]+")
_SPOKEN_DIGITS = {c: str(i) for i, c in enumerate("零一二三四五六七八九")} | {"〇": "0", "幺": "1"}

# After these a numeral is an amount of money, a date or a percentage: always digits.
MONEY = ("块", "元", "毛", "角")
DATE = ("年", "月", "号")
# After these a numeral counts something; small counts read better as words (三天, 两个).
MEASURES = (
    "个", "件", "天", "小时", "分钟", "秒", "周", "星期", "岁", "次", "单", "台", "瓶", "箱",
    "包", "斤", "公斤", "千克", "克", "米", "公里", "人", "位", "份", "张", "条", "双", "套",
    "盒", "袋", "楼", "层", "折", "倍", "万", "期", "站", "趟",
)  # fmt: skip
TIME_BEFORE = ("上午", "下午", "晚上", "凌晨", "中午", "早上", "傍晚", "今天", "明天", "后天",
               "昨天", "号", "日", "到", "在")  # fmt: skip
TIME_AFTER = ("半", "钟", "一刻", "三刻", "前", "之前", "以前", "后", "之后", "以后", "左右")
RANGE = ("到", "至", "或")
# 一 in these words is not a number, whatever follows (一块去, 一点都不, 一月份 stays a month).
NOT_NUMBERS = ("一块儿", "一块去", "一块走", "一角落", "一点点", "一点儿")

EN_DIGITS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
EN_REPEAT = {"double": 2, "triple": 3}
EN_NUMBER_WORDS = ("number", "order", "phone", "extension", "code", "account", "tracking")

# An order number said without "订单"/"order" before it: a run of this many digits that is not
# a mainland mobile number. After those words, any run the IVR accepts (3 to 32 digits).
BARE_ORDER_DIGITS = (8, 20)
MOBILE = re.compile(r"1[3-9][0-9]{9}")
ORDER_WORDS = re.compile(
    r"(订单号?|单号|order(?: number| no\.?| id)?)(?: ?(?:是|为|码|is|:|：))? ?$"
)
MAX_ORDER_NUMBERS = 5


def for_people(text: str, language: str) -> str:
    """``text`` from the recogniser as people read it in ``language`` (zh, en; others tidied)."""
    tidy = " ".join(text.split())
    code = language.strip().lower().replace("_", "-").split("-")[0]
    if code == "zh":
        return _chinese(tidy)
    if code == "en":
        return _english(tidy)
    return tidy


@dataclass
class Piece:
    """Words of the raw transcript shown together as people read them, with their timing."""

    word: str
    start: float
    end: float
    conf: float
    space: bool  # a space before it


def readable_words(words: list[dict[str, Any]], language: str) -> list[Piece]:
    """The timed raw words as ``for_people`` writes them: words that became one number ("一 二 三
    四" → 1234) are one piece spanning their times; spaces only where the readable text has them.
    """
    texts = [str(w.get("word", "")) for w in words]
    readable = for_people(" ".join(texts), language)
    raw = "".join(texts)
    owner = [i for i, text in enumerate(texts) for _ in text]
    places = [k for k, char in enumerate(readable) if char != " "]
    shown = "".join(readable[k] for k in places)
    group = list(range(len(texts)))  # each word's group: the first word of its group
    belongs: list[int] = []  # the word each shown character came from
    matcher = difflib.SequenceMatcher(None, raw, shown, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            belongs.extend(owner[i1:i2])
            continue
        touched = owner[i1:i2] or [owner[min(i1, len(owner) - 1)]] if owner else [0]
        for i in range(touched[0], touched[-1] + 1):
            group[i] = group[touched[0]]
        belongs.extend([touched[0]] * (j2 - j1))
    pieces: list[Piece] = []
    firsts: dict[int, int] = {}
    for k, word in enumerate(belongs):
        lead = group[word]
        if lead not in firsts:
            firsts[lead] = len(pieces)
            members = [i for i in range(len(texts)) if group[i] == lead]
            pieces.append(
                Piece(
                    word="",
                    start=float(words[members[0]]["start"]),
                    end=float(words[members[-1]]["end"]),
                    conf=min(float(words[i]["conf"]) for i in members),
                    space=places[k] > 0 and readable[places[k] - 1] == " ",
                )
            )
        piece = pieces[firsts[lead]]
        gap = " " if piece.word and readable[places[k] - 1] == " " else ""
        piece.word += gap + shown[k]
    return pieces


def _is_han(char: str) -> bool:
    return bool(char) and bool(re.match(f"[{HAN}]", char))


def _chinese(text: str) -> str:
    text = _HAN_SPACE.sub("", text)
    out: list[str] = []
    last = 0
    runs = list(_RUN.finditer(text))
    converted: dict[int, str] = {}
    for index in reversed(range(len(runs))):
        # Right to left, so "三到十五天" knows that 十五 became a number when it looks at 三.
        replacement = _numeral(text, runs[index], converted.get(index + 1) is not None)
        if replacement is not None:
            converted[index] = replacement
    for index, run in enumerate(runs):
        if index in converted:
            out.append(text[last : run.start()])
            out.append(converted[index])
            last = run.end()
    out.append(text[last:])
    return re.sub(r"百分之(\d+)", r"\1%", "".join(out))


def _value(numeral: str) -> int | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return int(cn2an.cn2an(numeral.replace("幺", "一"), "normal"))
    except (ValueError, TypeError, KeyError):
        return None


def _numeral(text: str, run: re.Match[str], next_is_number: bool) -> str | None:
    """The digits for one run of numeral characters, or None where it is a word."""
    numeral, start, end = run.group(), run.start(), run.end()
    before, after = text[:start], text[end:]
    if any(text.startswith(word, start) for word in NOT_NUMBERS):
        return None
    if before.endswith("第") or before.endswith("星期") or before.endswith("周"):
        return None  # ordinals and weekdays are written in words
    if _DIGIT_RUN.fullmatch(numeral) and len(numeral) >= 3:
        return "".join(_SPOKEN_DIGITS[c] for c in numeral)  # said digit by digit
    value = _value(numeral)
    if value is None:
        return None
    digits = str(value)
    if before.endswith("百分之"):
        return digits
    if after.startswith(MONEY):
        if numeral == "一" and after.startswith(("块", "角")) and not after[1:].startswith("钱"):
            return None  # 一块 is "together", 一角 "a corner", unless money follows
        return digits
    if after.startswith(DATE) or (after.startswith("日") and before.endswith("月")):
        return digits
    if before.endswith(("块", "元")) and not after[:1].isalnum():
        return digits  # 二十五块五: the five is fifty cents
    if after.startswith("点") and value <= 24:
        rest = after[1:]
        timed = before.endswith(TIME_BEFORE) or rest.startswith(TIME_AFTER)
        timed = timed or bool(re.match(f"[{NUMERAL}]+分", rest))
        if timed or (numeral != "一" and rest[:1] not in ("儿", "点")):
            return digits
        return None
    if before.endswith("点") and value < 60 and _time_before(text, start):
        return digits  # 三点十五 (分)
    if after.startswith("分") and before.endswith("点"):
        return digits
    if next_is_number and after.startswith(RANGE):
        return digits
    if after.startswith(MEASURES) and (value >= 10 or after.startswith(("折", "倍"))):
        return digits
    if len(numeral) >= 3 and re.search("[十百千万亿]", numeral):
        return digits  # 三百五十, 一千二百: numbers wherever they stand
    return None


def _time_before(text: str, start: int) -> bool:
    """Whether the 点 just before ``start`` ended a time (a numeral up to 24 before it)."""
    head = re.search(f"([{NUMERAL}]+|[0-9]+)点$", text[:start])
    return head is not None


def _english(text: str) -> str:
    tokens = text.split(" ")
    out: list[str] = []
    i = 0
    while i < len(tokens):
        j, digits = i, ""
        while j < len(tokens):
            word = tokens[j].lower()
            if word in EN_REPEAT and j + 1 < len(tokens) and tokens[j + 1].lower() in EN_DIGITS:
                digits += EN_DIGITS[tokens[j + 1].lower()] * EN_REPEAT[word]
                j += 2
            elif word in EN_DIGITS and not (word == "oh" and not digits and j + 1 >= len(tokens)):
                digits += EN_DIGITS[word]
                j += 1
            else:
                break
        said = j - i
        after_number_word = bool(out) and out[-1].lower() in EN_NUMBER_WORDS
        if digits and (said >= 3 or (said >= 2 and after_number_word)):
            out.append(digits)
            i = j
        else:
            out.append(tokens[i])
            i += 1
    return " ".join(out)


def order_numbers(text: str) -> list[str]:
    """Order numbers said in a readable transcript, first said first, each once.

    After 订单/单号/order any run of 3 to 32 digits; elsewhere a run of 8 to 20 digits that is
    not a mobile phone number.
    """
    found: list[str] = []
    for match in re.finditer(r"(?<![0-9])[0-9]+(?![0-9])", text):
        number = match.group()
        named = bool(ORDER_WORDS.search(text[max(0, match.start() - 20) : match.start()].lower()))
        low, high = BARE_ORDER_DIGITS
        bare = low <= len(number) <= high and not MOBILE.fullmatch(number)
        if ((named and ORDER_NUMBER.fullmatch(number)) or bare) and number not in found:
            found.append(number)
    return found[:MAX_ORDER_NUMBERS]
