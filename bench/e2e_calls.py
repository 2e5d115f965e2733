"""The calls and agents of the end-to-end bench: what each caller does, the agents' desks, the API."""

from __future__ import annotations

import contextlib
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests
from harness import REPO

from ivr.simulator import (
    Agent,
    Caller,
    CallHandle,
    Hangup,
    Press,
    Speak,
    Wait,
)
from ivr.simulator.caller import Action
from voicemail.audio import telephone_line

SPEECH = REPO.parent / "shared" / "speech" / "ko"
TERMINAL_MESSAGE = {"transcribed", "untranscribed", "failed"}
UNKNOWN_ORDER = "99999999"


TOPIC_KEYS = {"1": "product", "3": "payment", "4": "after_sales", "0": "general"}


@dataclass
class PlannedCall:
    """One call of the mix: its script and what the service should make of it."""

    kind: str  # "menu", "queue", "callback" (queues, then asks to be called back) or "voicemail"
    caller: Caller
    expected_outcomes: tuple[str, ...]
    handle: CallHandle | None = None


def load_clips() -> list[tuple[str, bytes]]:
    """The speech clips of the manifest, as a phone line records them."""
    rows = (SPEECH / "manifest.tsv").read_text(encoding="utf-8").splitlines()[1:]
    names = [row.split("\t")[0] for row in rows if row.strip()]
    return [(name, telephone_line((SPEECH / name).read_bytes())) for name in names]


def plan_calls(
    count: int, rng: random.Random, clips: list[tuple[str, bytes]], orders: list[str]
) -> list[PlannedCall]:
    """~40% menu browsing, ~30% queue (a third of them ask to be called back), ~30% messages,
    shuffled; deterministic for a seed."""
    messages = round(count * 0.3)
    queued = round(count * 0.3)
    callbacks = round(queued / 3)
    kinds = (["voicemail"] * messages + ["queue"] * (queued - callbacks)
             + ["callback"] * callbacks + ["menu"] * (count - messages - queued))  # fmt: skip
    rng.shuffle(kinds)
    planned: list[PlannedCall] = []
    clip_index = 0
    for n, kind in enumerate(kinds):
        english = rng.random() < 0.25
        number = f"+1415555{n:04d}" if english else f"+86138{n:08d}"
        language_key = "2" if english else "1"
        script: list[Action]
        if kind == "menu":
            order = rng.choice(orders) if rng.random() < 0.85 else UNKNOWN_ORDER
            script = [Press(language_key)]
            if rng.random() < 0.2:
                script += [Press("7"), Press("*")]  # a wrong key, then the menu again
            script += [Press("2"), Press(order + "#"), Hangup()]
            # An unknown number is asked for again: a caller who then hangs up got no answer.
            expected = ("abandoned",) if order == UNKNOWN_ORDER else ("self_service",)
            planned.append(PlannedCall(kind, Caller(number=number, script=script), expected))
        elif kind in ("queue", "callback"):
            topic_key = rng.choice(sorted(TOPIC_KEYS))
            patience = rng.uniform(120, 420)  # simulated seconds before hanging up
            script = [Press(language_key), Press(topic_key), Wait(patience)]
            expected = ("agent", "abandoned")
            if kind == "callback":
                # 2 at the first hold music's options: called back in their place. A caller whose
                # agent is being rung just then stays in line (the key is ignored).
                script.append(Press("2"))
                expected = ("callback", "agent", "abandoned")
            planned.append(PlannedCall(kind, Caller(number=number, script=script), expected))
        else:
            # Messages are left in Chinese: the Korean model stands in for the callers' language.
            _, audio = clips[clip_index % len(clips)]
            clip_index += 1
            caller = Caller(number=f"+86139{n:08d}", script=[Press("1"), Press("9"), Speak(audio)])
            planned.append(PlannedCall(kind, caller, ("voicemail",)))
    return planned


# The agents' skills and habits, cycled: (languages, topics, what they do when their phone rings).
# Every language and topic has agents who answer; four agents miss their offers (two let the
# phone ring out, two decline), are set away after two misses in a row, and come back.
STAFF = [
    ("zh", "product,general", "answers"),
    ("zh", "product,general", "answers"),
    ("zh", "product", "rings_out"),
    ("zh", "payment,general", "answers"),
    ("zh", "payment", "answers"),
    ("zh", "after_sales,general", "answers"),
    ("zh", "after_sales", "answers"),
    ("zh", "product,payment", "answers"),
    ("zh", "after_sales,payment", "answers"),
    ("zh", "general", "declines"),
    ("zh,en", "product,payment,after_sales,general", "answers"),
    ("zh,en", "product,general", "answers"),
    ("zh,en", "payment,after_sales", "answers"),
    ("zh,en", "product,after_sales", "rings_out"),
    ("zh,en", "general,payment", "answers"),
    ("zh,en", "product,payment,after_sales,general", "answers"),
    ("en", "product,general", "answers"),
    ("en", "payment,after_sales", "declines"),
    ("en", "product,payment,after_sales,general", "answers"),
    ("en", "general,after_sales", "answers"),
]


@dataclass
class AgentDesk:
    """An agent: skills, their phone's habit, and (``--manual``) what take-next answered."""

    name: str
    phone: str
    languages: str = "zh,en"
    topics: str = ",".join(sorted(set(TOPIC_KEYS.values())))
    habit: str = "answers"  # "answers", "rings_out" or "declines"
    offers: int = 0
    statuses: Counter[str] = field(default_factory=Counter)

    def phone_agent(self, rng: random.Random) -> Agent:
        """The scripted person at the agent's phone (the simulator's seconds)."""
        return Agent(
            self.phone,
            answer_after=rng.uniform(1.0, 4.0),
            answers=self.habit != "rings_out",
            declines=self.habit == "declines",
            talk_seconds=rng.uniform(40, 90),
        )


def staff(count: int) -> list[AgentDesk]:
    """``count`` agents with the skills and habits of STAFF, cycled."""
    return [
        AgentDesk(f"agent{n:02d}", f"+86139{n:04d}0000", *STAFF[n % len(STAFF)])
        for n in range(count)
    ]


def drive_agents(
    desks: list[AgentDesk], base_url: str, token: str, stop: threading.Event
) -> list[threading.Thread]:
    """``--manual``: one thread per agent pressing take-next again and again, until ``stop``."""

    def loop(desk: AgentDesk) -> None:
        api = Api(base_url, token)  # a session of its own, as each agent has a browser
        while not stop.is_set():
            try:
                reply = api.post(f"/api/v1/agents/{desk.name}/take-next")
            except requests.RequestException:
                desk.statuses["unreachable"] += 1
                stop.wait(1.0)
                continue
            desk.statuses[str(reply.status_code)] += 1
            if reply.status_code == 200 and reply.json().get("offer"):
                desk.offers += 1
                stop.wait(0.2)
            else:  # nobody waiting, or still talking or wrapping up (409)
                stop.wait(1.0)

    threads = [threading.Thread(target=loop, args=(d,), name=f"agent-{d.name}") for d in desks]
    for thread in threads:
        thread.start()
    return threads


def back_to_desk(
    desks: list[AgentDesk], base_url: str, token: str, stop: threading.Event, every: float
) -> threading.Thread:
    """Agents set away for missing offers make themselves available again every ``every`` s."""

    def loop() -> None:
        api = Api(base_url, token)
        missers = {desk.name: desk for desk in desks if desk.habit != "answers"}
        while not stop.wait(every):
            try:
                listed = api.get("/api/v1/agents").json()["data"]
                for agent in listed:
                    if agent["name"] in missers and agent["presence"] == "away":
                        body = {"presence": "available"}
                        reply = api.post(f"/api/v1/agents/{agent['name']}/presence", body)
                        missers[agent["name"]].statuses[f"back {reply.status_code}"] += 1
            except (requests.RequestException, ValueError, KeyError) as exc:
                print(f"agents could not come back: {exc!r}", file=sys.stderr)

    thread = threading.Thread(target=loop, name="back-to-desk")
    thread.start()
    return thread


class Api:
    """The service's JSON API with a bearer token, over loopback."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params: Any) -> requests.Response:
        """GET ``path``."""
        return self.session.get(self.base_url + path, params=params, timeout=60)

    def post(self, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        """POST ``path`` with an optional JSON body."""
        return self.session.post(self.base_url + path, json=body, timeout=60)

    def pages(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paginated list."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = {"limit": 200, **params} | ({"cursor": cursor} if cursor else {})
            reply = self.get(path, **query)
            reply.raise_for_status()
            body = reply.json()
            items += body["data"]
            cursor = body.get("next_cursor")
            if not cursor:
                return items


def wait_for_calls(planned: list[PlannedCall], deadline: float) -> bool:
    """Wait until every placed call has ended; False if some still run at ``deadline``."""
    while time.monotonic() < deadline:
        if all(call.handle is not None and call.handle.done for call in planned):
            return True
        time.sleep(0.2)
    return False


def wait_for_messages(api: Api, expected: int, timeout: float) -> list[dict[str, Any]]:
    """Poll the API until ``expected`` messages exist and all are done (or time runs out)."""
    deadline = time.monotonic() + timeout
    messages: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            messages = api.pages("/api/v1/voicemails")
            if len(messages) >= expected and all(m["status"] in TERMINAL_MESSAGE for m in messages):
                return messages
        time.sleep(1.0)
    return messages
