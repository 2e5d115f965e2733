"""Callers' numbers: one form to compare them by, and a masked form for agents without the right.

"+86 138-0013-8000" and "+8613800138000" are the same caller. Agents who may not see numbers
whole see ``+86 138****8000``: the country code, the first three and the last four digits.
"""

from __future__ import annotations

import re

from flask_login import current_user
from sqlalchemy import ColumnElement, and_, func, not_, or_

# Written between digits by people and forms: spaces, dashes, dots, brackets.
SEPARATORS = " -.()\u00a0"
NUMBER = re.compile(r"\+?[0-9]{3,20}")
# ITU country codes of one and two digits; every other code has three.
ONE_DIGIT = {"1", "7"}
TWO_DIGITS = set(
    [
        "20",
        "27",
        "30",
        "31",
        "32",
        "33",
        "34",
        "36",
        "39",
        "40",
        "41",
        "43",
        "44",
        "45",
        "46",
        "47",
        "48",
        "49",
        "51",
        "52",
        "53",
        "54",
        "55",
        "56",
        "57",
        "58",
        "60",
        "61",
        "62",
        "63",
        "64",
        "65",
        "66",
        "81",
        "82",
        "84",
        "86",
        "90",
        "91",
        "92",
        "93",
        "94",
        "95",
        "98",
    ]
)


class NumberError(ValueError):
    """Not a phone number."""


def normalise(number: str) -> str:
    """The form numbers are compared by: digits with a leading + if given, no separators.

    Raises NumberError for anything else (letters, too short, too long).
    """
    text = number.strip()
    for sep in SEPARATORS:
        text = text.replace(sep, "")
    if text.startswith("00"):  # the international prefix dialled from most countries
        text = "+" + text[2:]
    if not NUMBER.fullmatch(text):
        raise NumberError("a phone number is 3 to 20 digits, with a leading + for the country")
    return text


def normalised_column(column: ColumnElement[str]) -> ColumnElement[str]:
    """SQL: ``column`` without separators, to compare with ``normalise``'s result."""
    for sep in SEPARATORS[:-1]:
        column = func.replace(column, sep, "")
    return column


def _country(digits: str) -> str:
    for size, codes in ((1, ONE_DIGIT), (2, TWO_DIGITS)):
        if digits[:size] in codes:
            return digits[:size]
    return digits[:3]


def mask(number: str | None) -> str:
    """``+86 138****8000``: the middle of a number hidden; an empty number stays empty.

    The same text masks the same way everywhere (the board, pages, exports), so a masked agent
    can still tell two callers apart by the ends they see.
    """
    if not number:
        return ""
    try:
        text = normalise(number)
    except NumberError:
        return "****"  # never show what could not be understood (a SIP address, a name)
    prefix = ""
    if text.startswith("+"):
        country = _country(text[1:])
        prefix, text = f"+{country} ", text[1 + len(country) :]
    if len(text) >= 8:
        return f"{prefix}{text[:3]}****{text[-4:]}"
    return f"{prefix}{'*' * max(len(text) - 2, 1)}{text[-2:]}"


# The fewest digits a search for part of a number needs, and the most of a number's end a search
# by an agent who sees numbers masked may give: the last four digits are what mask() shows.
SEARCH_DIGITS = 3
SHOWN_TAIL = 4


def number_search(column: ColumnElement[str], text: str, whole: bool) -> ColumnElement[bool] | None:
    """SQL: the numbers in ``column`` that a search for ``text`` finds; None if it names none.

    Whoever sees numbers whole finds every number holding the digits ("138001", "8000",
    "+86 138"). Whoever sees them masked finds a whole number, or numbers ending in the 3 or 4
    digits searched that are long enough for mask() to show those digits: a search never tells
    them a digit the page hides.
    """
    compact = "".join(c for c in text.strip() if c not in SEPARATORS)
    digits = compact.removeprefix("+")
    if not digits.isascii() or not digits.isdigit() or len(digits) < SEARCH_DIGITS:
        return None
    if whole:
        return column.contains(compact[:32], autoescape=True)
    # A whole number, written with its + or without.
    either = [column.in_({compact, "+" + digits})]
    if len(digits) <= SHOWN_TAIL and compact == digits:
        # mask() shows the last four digits of a number with 8 or more after its country code.
        long_enough = or_(
            func.length(column) >= 12,
            and_(not_(column.startswith("+")), func.length(column) >= 8),
        )
        either.append(and_(column.endswith(digits), long_enough))
    return or_(*either)


def heard_number(number: str | None, whole: bool) -> str:
    """The number a call-back's whisper reads to the agent: its last four digits unless the
    agent may see numbers whole (the phone is a page too)."""
    return (number or "") if whole else (number or "")[-4:]


# A number in international form inside free text (a call-back's note: "☎ +8613800138000: 25 s").
IN_TEXT = re.compile(r"\+[0-9][0-9 -]{5,22}[0-9]")


def shown_text(text: object) -> str:
    """Free text (notes, event details) with every international number in it as the
    signed-in agent may see it; order numbers and other digits without a + stay."""
    text = "" if text is None else str(text)
    return text if sees_numbers() else IN_TEXT.sub(lambda m: mask(m.group()), text)


def sees_numbers() -> bool:
    """Whether whoever is signed in sees callers' numbers whole (supervisors, agents given it)."""
    return bool(current_user and current_user.is_authenticated and current_user.may_see_numbers)


def shown_number(number: str | None) -> str:
    """A caller's number as the signed-in agent may see it: the ``caller`` filter of templates,
    and what pages' JSON and exports show."""
    return (number or "") if sees_numbers() else mask(number)
