"""What a simulated call produced: transcript, requests, errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Who = Literal["twilio", "caller"]


@dataclass(frozen=True)
class Line:
    """One event of the call, ``at`` seconds after it was answered."""

    at: float
    who: Who
    kind: str
    text: str
    language: str | None = None
    voice: str | None = None

    def render(self) -> str:
        """``  6.2s caller  press 2``."""
        language = f" [{self.language}]" if self.language else ""
        text = f" {self.text}" if self.text else ""
        return f"{self.at:5.1f}s {self.who:<7} {self.kind}{language}{text}"


@dataclass(frozen=True)
class Request:
    """One webhook request the simulator sent (``status`` 0: the app could not be reached).

    ``seconds`` is how long the app took to answer (real seconds, as Twilio would measure).
    """

    path: str
    form: dict[str, str]
    status: int
    url: str = ""
    seconds: float = 0.0


@dataclass
class CallResult:
    """The outcome of ``Simulator.call``."""

    sid: str
    transcript: list[Line] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    duration: int = 0
    status: str = "in-progress"
    direction: str = "inbound"
    to: str = ""
    queue_result: str | None = None
    queue_time: int | None = None
    bridged_to: str | None = None
    # The numbers this leg heard speak in a conference, in the order first heard.
    heard_in_conference: list[str] = field(default_factory=list)

    def talked_with(self) -> str | None:
        """Whom the caller talked to: the agent of a queue bridge, else the first voice heard in
        a conference."""
        return self.bridged_to or next(iter(self.heard_in_conference), None)

    def transcript_text(self) -> str:
        """The transcript, one line per event."""
        return "\n".join(line.render() for line in self.transcript)

    def said(self, language: str | None = None) -> list[str]:
        """Texts Twilio said, optionally only those in ``language``."""
        return [
            line.text
            for line in self.transcript
            if line.kind == "say" and (language is None or line.language == language)
        ]

    def paths(self) -> list[str]:
        """The app paths requested, in order (without query strings)."""
        return [request.path.split("?", 1)[0] for request in self.requests]
