"""Orders said in a transcript, with their status from the same lookup the IVR reads out."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ivr.callflow.flow import Lookup, LookupFailed
from voicemail.readable import order_numbers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SaidOrder:
    """An order number heard in a message; status "" when there is no such order, None when the
    lookup could not answer."""

    number: str
    status: str | None
    carrier: str = ""
    eta: str = ""

    def as_json(self) -> dict[str, Any]:
        """The order as the API shows it."""
        return {
            "number": self.number,
            "found": None if self.status is None else bool(self.status),
            "status": self.status or None,
            "carrier": self.carrier or None,
            "eta": self.eta or None,
        }


class OrderFinder:
    """Looks orders up for one request; after one failure (the shop down) it stops asking."""

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup
        self._seen: dict[str, SaidOrder] = {}
        self._failed = False

    def said_in(self, text: str | None) -> list[SaidOrder]:
        """The orders said in ``text``, each with what the lookup knows of it."""
        return [self._find(number) for number in order_numbers(text or "")]

    def _find(self, number: str) -> SaidOrder:
        if number in self._seen:
            return self._seen[number]
        found = SaidOrder(number, None)
        if not self._failed:
            try:
                info = self._lookup(number)
            except LookupFailed as exc:
                # A transcript page must still show; the number is shown without a status.
                log.warning("order lookup for a transcript failed: %s", exc)
                self._failed = True
            else:
                found = (
                    SaidOrder(number, info.status, info.carrier, info.eta)
                    if info
                    else SaidOrder(number, "")
                )
        self._seen[number] = found
        return found
