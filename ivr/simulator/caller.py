"""The simulated caller: who calls and what they do at each input point."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ivr.simulator.media import is_phone_wav, phone_recording, tone_wav

KEYS = frozenset("0123456789*#")


@dataclass(frozen=True)
class Press:
    """Press keys at a Gather (``"2"``, ``"12345#"``), or a key at a Record."""

    digits: str


@dataclass(frozen=True)
class Silence:
    """Give no input at this Gather or Record."""


@dataclass(frozen=True)
class Hangup:
    """Hang up at this input point."""


@dataclass(frozen=True)
class Speak:
    """Speak ``audio`` (WAV bytes) at a Record, then press ``key`` ("": stay silent) or hang up."""

    audio: bytes = field(repr=False)
    hangup_after: bool = False
    key: str = "#"


@dataclass(frozen=True)
class Wait:
    """In a queue: hang up if still waiting ``seconds`` (simulated) after this point."""

    seconds: float


@dataclass(frozen=True)
class Hold:
    """In a queue: hold until taken out of it; the actions after this are for after the queue."""


Action = Press | Silence | Hangup | Speak | Wait | Hold


@dataclass(frozen=True)
class Utterance:
    """Speech in a conversation: ``audio`` (8 kHz mono WAV) said ``at`` seconds after joining."""

    audio: bytes = field(repr=False)
    at: float = 0.0

    @classmethod
    def of(cls, source: str | Path | bytes, at: float = 0.0) -> Utterance:
        """An utterance from an audio file's path or bytes (any format ffmpeg reads)."""
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        return cls(data if is_phone_wav(data) else phone_recording(data), at)


@dataclass
class Caller:
    """A caller: their number, the number dialled, and a script of actions."""

    number: str = "+8613800138000"
    to: str = "+864000000000"
    script: list[Action] = field(default_factory=list)
    extra: dict[str, str] | None = None
    # What this party says once in a conference (heard by the others, kept by call recordings).
    says: list[Utterance] = field(default_factory=list)


def _speak(spec: str) -> Speak:
    """``speak:3``, ``speak:FILE.wav``, then ``:hangup``, ``:KEY`` or ``:.`` (fall silent)."""
    source, _, tail = spec.partition(":")
    if tail not in ("", "hangup", ".") and not (len(tail) == 1 and tail in KEYS):
        raise ValueError(f"bad speak suffix {tail!r}: use ':hangup', ':.' or one key")
    try:
        seconds = float(source)
    except ValueError:
        audio = phone_recording(Path(source).read_bytes())
    else:
        audio = tone_wav(seconds)
    if tail == "hangup":
        return Speak(audio, hangup_after=True)
    return Speak(audio, key={"": "#", ".": ""}.get(tail, tail))


def parse_script(text: str) -> list[Action]:
    """Parse ``"2 1 . 12345# speak:3 wait:30 hold hangup"`` (``.`` = silence) into actions."""
    actions: list[Action] = []
    for token in text.split():
        if token == ".":
            actions.append(Silence())
        elif token.lower() == "hangup":
            actions.append(Hangup())
        elif token.lower() == "hold":
            actions.append(Hold())
        elif token.lower().startswith("wait:"):
            actions.append(Wait(float(token[len("wait:") :])))
        elif token.lower().startswith("speak:"):
            actions.append(_speak(token[len("speak:") :]))
        elif set(token) <= KEYS:
            actions.append(Press(token))
        else:
            raise ValueError(
                f"unknown caller action {token!r}: use keys, '.', 'hangup', 'hold', "
                "'wait:SECONDS', 'speak:SECONDS' or 'speak:FILE' (an audio file)"
            )
    return actions
