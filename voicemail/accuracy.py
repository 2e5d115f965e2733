"""Character error rate, for measuring transcripts against what was really said."""

from __future__ import annotations

import re
import unicodedata

_DIGITS = "영일이삼사오육칠팔구"
_SMALL_UNITS = ((1000, "천"), (100, "백"), (10, "십"))
_LARGE_UNITS = ((10**16, "경"), (10**12, "조"), (10**8, "억"), (10**4, "만"))
_BRACKETED = re.compile(r"[\[(]\s*([^\])]*?)\s*[\])]")
_NUMBER = re.compile(r"\d+(?:,\d{3})*")
_UNKNOWN = re.compile(r"\[unk\]|<unk>", re.IGNORECASE)


def sino_korean(number: int) -> str:
    """``number`` read in Sino-Korean numerals (2018 → 이천십팔)."""
    if number == 0:
        return "영"
    words = []
    for unit, name in _LARGE_UNITS:
        if number >= unit:
            group, number = divmod(number, unit)
            # 만, not 일만, as the references write it; 일억 keeps its 일.
            words.append(("" if group == 1 and unit == 10**4 else _below_10000(group)) + name)
    words.append(_below_10000(number))
    return "".join(words)


def _below_10000(number: int) -> str:
    words = []
    for unit, name in _SMALL_UNITS:
        count, number = divmod(number, unit)
        if count:
            words.append(("" if count == 1 else _DIGITS[count]) + name)
    if number:
        words.append(_DIGITS[number])
    return "".join(words)


def _read_number(digits: str) -> str:
    digits = digits.replace(",", "")
    if len(digits) > 1 and digits.startswith("0"):
        # "[02]", "010": said digit by digit, zero as 공.
        return "".join("공" if d == "0" else _DIGITS[int(d)] for d in digits)
    return sino_korean(int(digits))


def normalise_for_scoring(text: str, *, language: str = "ko") -> str:
    """``text`` as the characters to compare: no spaces or punctuation; Korean numbers in words."""
    text = unicodedata.normalize("NFC", _UNKNOWN.sub(" ", text)).lower()
    if language.lower().startswith("ko"):
        text = _BRACKETED.sub(r" \1 ", text)
        text = _NUMBER.sub(lambda m: _read_number(m.group()), text)
    return "".join(
        ch for ch in text if not ch.isspace() and unicodedata.category(ch)[0] not in "PSZC"
    )


def levenshtein(reference: str, hypothesis: str) -> int:
    """The fewest insertions, deletions and substitutions that turn one string into the other."""
    if len(reference) < len(hypothesis):
        reference, hypothesis = hypothesis, reference
    previous = list(range(len(hypothesis) + 1))
    for i, ref_char in enumerate(reference, start=1):
        current = [i]
        for j, hyp_char in enumerate(hypothesis, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_char != hyp_char))
            )
        previous = current
    return previous[-1]


def character_error_rate(reference: str, hypothesis: str, *, language: str = "ko") -> float:
    """Edits per reference character, spaces and punctuation ignored (0.0 is perfect)."""
    ref = normalise_for_scoring(reference, language=language)
    hyp = normalise_for_scoring(hypothesis, language=language)
    if not ref:
        return 0.0 if not hyp else 1.0
    return levenshtein(ref, hyp) / len(ref)
