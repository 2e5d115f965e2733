"""The shared clock of real-time simulations: simulated seconds pass as scaled real seconds."""

from __future__ import annotations

import time
from datetime import datetime
from email.utils import format_datetime


class SharedClock:
    """One clock for every call of a simulator: ``(monotonic() - start) / time_scale``."""

    def __init__(self, time_scale: float) -> None:
        if not time_scale > 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self.origin = time.monotonic()

    def now(self) -> float:
        """Simulated seconds since the simulator started."""
        return (time.monotonic() - self.origin) / self.time_scale

    def real(self, seconds: float) -> float:
        """Real seconds that ``seconds`` of simulated time take (never negative)."""
        return max(0.0, seconds * self.time_scale)


def rfc2822(moment: datetime) -> str:
    """Twilio's timestamp format, e.g. ``Tue, 28 Jul 2020 18:53:07 +0000``."""
    return format_datetime(moment.replace(microsecond=0))
