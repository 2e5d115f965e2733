"""The demo's day: who calls about what, when in the working day, and what agents did after."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ivr.database import db
from ivr.models import Agent, Call, CallEvent, QueueEntry, Role
from ivr.simulator import (
    Caller,
    Hangup,
    Hold,
    Press,
    Silence,
    Speak,
    Utterance,
    Wait,
)
from ivr.simulator.caller import Action
from ivr.simulator.media import phone_recording, tone_wav, truncate_wav
from voicemail.cases import set_case_status
from voicemail.models import CaseStatus, Note, Voicemail

T = TypeVar("T")
# Seconds of a clip said in a conversation: enough to read back, short to transcribe.
TALK_SECONDS = 3.0
# When agents and callers say their clip, in seconds after each joined the conversation (talks
# last 50 s and more): well into it, because the simulated seconds go fast (50 to a real one) and
# on a loaded machine Twilio's recording may start many of them late.
AGENT_SAYS_AT = 24.0
CALLER_SAYS_FROM = 30.0
SPEECH = Path(__file__).resolve().parents[1] / "tests" / "data" / "speech" / "ko"
# Real seconds per simulated second: a two-minute conversation takes 2.4 s. Smaller makes the
# real time each webhook takes count for more: agents would seem slow to pick up.
TIME_SCALE = 0.02
HOTLINE_NUMBER = "+864000000000"
TOPIC_KEYS = {"product": "1", "payment": "3", "after_sales": "4", "general": "0"}


NOTES = [
    "已回电，客户同意换货，等待仓库确认。",
    "客户要求退款，已转财务处理。",
    "Called back, left a voicemail; try again after 2 pm.",
    "快递显示已签收但客户说没收到，已联系快递公司核实。",
    "Customer confirmed the new delivery address.",
]


@dataclass(frozen=True)
class Mix:
    """Where the day's callers go, as shares of all calls (the rest browse and hang up)."""

    order_status: float = 0.24
    case_status: float = 0.08
    answered: float = 0.36
    abandoned: float = 0.08
    callback: float = 0.06
    queue_message: float = 0.02
    message: float = 0.06


def speech_clips() -> list[bytes]:
    """The committed Korean clips as a phone line records them (tones if they are missing)."""
    files = sorted(SPEECH.glob("zeroth_*.flac"))
    if not files:
        return [tone_wav(seconds) for seconds in (4.0, 7.0)]
    return [phone_recording(path.read_bytes()) for path in files]


class CallMix:
    """Makes each caller of the day: a number, a language and what they do."""

    def __init__(self, rng: random.Random, orders: list[str], clips: list[bytes],
                 cases: Callable[[], list[str]], mix: Mix = Mix()) -> None:  # fmt: skip
        self.rng = rng
        self.orders = orders
        self.clips = clips
        # What callers say to agents draws on its own stream: the day's mix stays as seeded.
        self.voices = random.Random(len(clips))
        self.cases = cases
        self.mix = mix
        self.regulars = [f"+86138{rng.randrange(10**8):08d}" for _ in range(25)]

    def number(self, lang: str) -> str:
        """A caller ID: some customers call more than once a day."""
        if lang == "zh":
            if self.rng.random() < 0.2:
                return self.rng.choice(self.regulars)
            return (
                f"+86{self.rng.choice(['138', '139', '186', '150'])}{self.rng.randrange(10**8):08d}"
            )
        return self.rng.choice([f"+1415555{self.rng.randrange(10**4):04d}",
                                f"+4420794{self.rng.randrange(10**5):05d}"])  # fmt: skip

    def speech(self) -> Speak:
        """A message of real speech; some callers hang up instead of pressing a key."""
        audio = self.rng.choice(self.clips)
        return Speak(audio, hangup_after=self.rng.random() < 0.3)

    def rating(self) -> str:
        """Mostly content callers, some not."""
        return self.rng.choices("12345", weights=[1, 1, 3, 8, 10])[0]

    def topic_key(self) -> str:
        """Which queue a caller asks for."""
        return self.rng.choices(list(TOPIC_KEYS.values()), weights=[5, 2, 3, 2])[0]

    def caller(self, kind: str | None = None) -> Caller:
        """The next caller of the day (of ``kind``, or as the mix has it)."""
        rng, mix = self.rng, self.mix
        lang = "zh" if rng.random() < 0.7 else "en"
        number = self.number(lang)
        # A caller from +86 gets Chinese on silence; the others press their language.
        choose: list[Action] = [Silence() if lang == "zh" and rng.random() < 0.3 else
                                Press("1" if lang == "zh" else "2")]  # fmt: skip
        shares = {
            "order": mix.order_status,
            "case": mix.case_status,
            "answered": mix.answered,
            "abandoned": mix.abandoned,
            "callback": mix.callback,
            "queue_message": mix.queue_message,
            "message": mix.message,
        }
        shares["browse"] = max(0.0, 1.0 - sum(shares.values()))
        kind = kind or rng.choices(list(shares), weights=list(shares.values()))[0]
        script: list[Action]
        says: list[Utterance] = []
        if kind == "order":
            order = (
                rng.choice(self.orders) if rng.random() < 0.8 else str(rng.randrange(10**7, 10**8))
            )
            script = [*choose, Press("2"), Press(order + "#"), Hangup()]
        elif kind == "case":
            known = self.cases()
            case = (
                rng.choice(known)
                if known and rng.random() < 0.75
                else str(rng.randrange(10**7, 10**8))
            )
            script = [*choose, Press("5"), Press(case + "#"), Hangup()]
        elif kind == "answered":
            after: list[Action] = [Hangup()]
            if rng.random() < 0.8:
                after = [Press(self.rating())]
                if rng.random() < 0.05:
                    after += [Press("1"), self.speech()]
            script = [*choose, Press(self.topic_key()), Hold(), *after]
            # What they say to the agent: recorded, transcribed, found by search.
            said = truncate_wav(self.voices.choice(self.clips), TALK_SECONDS)
            at = self.voices.uniform(CALLER_SAYS_FROM, CALLER_SAYS_FROM + 6.0)
            says = [Utterance(said, at=at)]
        elif kind == "abandoned":
            script = [*choose, Press(self.topic_key()), Wait(rng.uniform(20, 200))]
        elif kind == "callback":
            script = [*choose, Press(self.topic_key()), Press("2")]
        elif kind == "queue_message":
            script = [*choose, Press(self.topic_key()), Press("1"), self.speech()]
        elif kind == "message":
            script = [*choose, Press("9"), self.speech()]
        else:
            script = rng.choice([[*choose, Press("*"), Hangup()], [Hangup()],
                                 [*choose, Press("7"), Hangup()]])  # fmt: skip
        return Caller(number=number, to=HOTLINE_NUMBER, script=script, says=says)


# Calls per hour of a working day from 08:00: a morning peak, lunch, an afternoon peak.
HOURLY = [3, 8, 10, 9, 6, 7, 9, 8, 6, 5, 3, 2]


def working_window(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Today's working hours so far in ``zone`` (08:00 to now, at most to 20:00).

    Early in the morning, the twelve hours up to now instead, so the calls are never in the future.
    """
    local = now.astimezone(zone)
    start = datetime.combine(local.date(), clock_time(8), zone)
    end = min(local - timedelta(minutes=5), start + timedelta(hours=len(HOURLY)))
    if end - start < timedelta(hours=3):
        end = local - timedelta(minutes=5)
        start = end - timedelta(hours=len(HOURLY))
    return start.astimezone(UTC), end.astimezone(UTC)


def start_times(rng: random.Random, count: int, start: datetime, end: datetime) -> list[datetime]:
    """``count`` sorted times between ``start`` and ``end``, shaped like a working day."""
    span = (end - start).total_seconds()
    hour = 3600.0
    hours = max(1, int(span // hour) + (span % hour > 0))
    weights = [HOURLY[i % len(HOURLY)] for i in range(hours)]
    times = []
    for _ in range(count):
        slot = rng.choices(range(hours), weights=weights)[0]
        offset = min(span, (slot + rng.random()) * hour)
        times.append(start + timedelta(seconds=offset))
    return sorted(times)


def spread_over_the_day(
    rng: random.Random, window: tuple[datetime, datetime], now: datetime, after: int = 0
) -> None:
    """Move each call after id ``after``, with its events, queue stays and messages, to a time
    of the window.

    Within a call, real seconds are stretched to the call's simulated ones (its duration as
    Twilio reported it), so waits, talk times and the call log's times agree.
    """
    calls = db.session.scalars(
        select(Call).where(Call.id > after).order_by(Call.started_at, Call.id)
    ).all()
    targets = start_times(rng, len(calls), *window)
    ours = [call.id for call in calls]
    entries = group(
        db.session.scalars(select(QueueEntry).where(QueueEntry.call_id.in_(ours))).all(),
        lambda e: e.call_id,
    )
    events = group(
        db.session.scalars(select(CallEvent).where(CallEvent.call_id.in_(ours))).all(),
        lambda e: e.call_id,
    )
    messages = group(
        db.session.scalars(select(Voicemail).where(Voicemail.call_id.in_(ours))).all(),
        lambda m: m.call_id,
    )
    latest = now - timedelta(minutes=1)
    for call, target in zip(calls, targets, strict=True):
        real = ((call.ended_at or call.started_at) - call.started_at).total_seconds()
        stretch = call.duration / real if call.duration and real > 0 else 1 / TIME_SCALE
        origin = call.started_at

        def moved(at: datetime | None, origin: datetime = origin, stretch: float = stretch,
                  target: datetime = target) -> datetime | None:  # fmt: skip
            if at is None:
                return None
            return min(latest, target + (at - origin) * stretch)

        call.started_at, call.ended_at = moved(call.started_at), moved(call.ended_at)  # type: ignore[assignment]
        for event in events.get(call.id, []):
            event.at = moved(event.at)  # type: ignore[assignment]
        for entry in entries.get(call.id, []):
            entry.entered_at = moved(entry.entered_at)  # type: ignore[assignment]
            entry.left_at, entry.offered_at = moved(entry.left_at), moved(entry.offered_at)
            entry.bridged_at = moved(entry.bridged_at)
        for message in messages.get(call.id, []):
            message.created_at = message.next_attempt_at = moved(message.created_at)  # type: ignore[assignment]
            if message.transcribed_at is not None:
                taken = timedelta(seconds=5 + (message.transcription_seconds or 0))
                message.transcribed_at = min(latest, message.created_at + taken)
    db.session.commit()


def group(rows: list[T], key: Callable[[T], int | None]) -> dict[int | None, list[T]]:
    """Rows by ``key``."""
    found: dict[int | None, list[T]] = {}
    for row in rows:
        found.setdefault(key(row), []).append(row)
    return found


def work_the_inbox(rng: random.Random, now: datetime, after: int = 0) -> None:
    """Agents answered some messages after id ``after`` (in time or late), and took some in
    hand with a note."""
    agents = db.session.scalars(select(Agent).where(Agent.role == Role.AGENT)).all()
    messages = db.session.scalars(
        select(Voicemail).where(Voicemail.id > after).order_by(Voicemail.created_at)
    ).all()
    for message in messages:
        age = now - message.created_at
        draw = rng.random()
        if age < timedelta(minutes=30) or draw < 0.35:
            continue  # new: the recent ones, and a third of the older ones (overdue)
        message.assigned_agent_id = rng.choice(agents).id
        if draw < 0.55:
            set_case_status(message, CaseStatus.IN_PROGRESS)
            db.session.add(Note(voicemail_id=message.id, agent_id=message.assigned_agent_id,
                                body=rng.choice(NOTES),
                                created_at=message.created_at + age * rng.uniform(0.2, 0.8)))  # fmt: skip
            continue
        set_case_status(message, rng.choice([CaseStatus.ANSWERED, CaseStatus.RESOLVED]))
        # Most within the 15-minute promise, some late.
        answered = timedelta(minutes=rng.choice([3, 6, 9, 12, 14, 25, 40]))
        message.answered_at = min(now - timedelta(minutes=1), message.created_at + answered)
        if rng.random() < 0.3:
            db.session.add(Note(voicemail_id=message.id, agent_id=message.assigned_agent_id,
                                body=rng.choice(NOTES), created_at=message.answered_at))  # fmt: skip
    db.session.commit()
