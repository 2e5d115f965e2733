"""Reading numbers from text that people and machines send."""

from __future__ import annotations


def whole_number(raw: str, digits: int = 18) -> int | None:
    """``raw`` as a number if it is up to ``digits`` ASCII digits, else None.

    ``str.isdigit()`` alone lets "²" and "٣" through, which ``int()`` refuses or reads as 3.
    """
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= digits else None
