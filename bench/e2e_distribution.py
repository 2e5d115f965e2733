"""The end-to-end bench's checks of automatic distribution, from the database after the run.

Everything is read from the shared database once the calls have ended, in real (wall-clock)
seconds: the service stamps its rows with the real clock, whatever the simulator's time scale,
so a simulated second of hold music is ``--time-scale`` real seconds here.

* **An agent's idle time** is rebuilt from ``agent_presence_changes``: the rows of one agent in
  order (``began_at``, then ``id``) each hold from their ``began_at`` to the next row's; before
  the first row the agent is away. A wrap-up is two rows written at once (busy ``wrapup``, then
  available ``call_over`` dated when it ends; a change in between deletes the second), so the
  rows already say when a wrap-up ends. The agent is *idle* while their row says available and
  none of their ``agent_offers`` is in flight (``offered_at`` ≤ t < ``ended_at``; an offer never
  ended counts as in flight to the end of the run). The bench's agents never sign in on the web
  (``session_expires_at`` stays empty, so their session never runs out) and are never disabled;
  both are checked.
* **A caller waits** from their queue entry's ``entered_at`` (their first hold-music request)
  to the first of ``bridged_at``, ``left_at`` (Twilio's Enqueue action) and their call's
  ``ended_at`` (its final status callback). A caller's offer is in flight from its ``offered_at``
  to its ``ended_at`` (``agent_offers`` by ``entry_id``).
* **Idle-eligible wait** of a caller: the measure of the times they wait with no offer in flight
  while at least one agent who speaks their language and serves their topic (``agents.languages``
  and ``agents.topics``) is idle. It is what automatic distribution should keep near zero: time a
  caller waits although someone could take them and nobody is being rung for them.
* **No double offer**: one agent's offers, in order, never overlap (the next starts at or after
  the previous ended), nor do one entry's offers. The two timestamps come from different
  processes (``offered_at`` is taken just before the compare-and-sets, ``ended_at`` just before
  the commit that frees the agent), so an overlap under ``TOLERANCE`` counts as none; the largest
  overlap seen is reported either way.
* **No offer after hanging up**: no offer starts after the caller had gone, i.e. after the first
  of the call's ``ended_at`` and, for a stay that ended in a hang-up, its ``left_at``.
* **Call-back requests** (a stay left with key 2, ``leave_reason`` ``callback``) are not in
  ``agent_offers`` (the agent calls out): each time an agent's phone rings for one is the
  agent's ``ringing`` row naming the stay, in flight until that agent's next row. A request
  waits from ``entered_at`` (still on the line, then after hanging up: it keeps its place) until
  the ring that reached the customer (its last, for a stay that ended ``done``), and counts in
  the idle-eligible wait like any caller, its rings and its offers as a caller in line being
  its offers in flight. Checked: each request was called back exactly once (one ``done`` stay,
  one call placed to the customer's number), and no two rings of one request overlap.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text

if TYPE_CHECKING:
    from end_to_end import Figures, Observed, Options

Interval = tuple[float, float]
TOLERANCE = 0.25  # seconds; see the module's docstring
GOAL_P99 = 2.0  # seconds of idle-eligible wait
AVAILABLE = "available"


def union(intervals: list[Interval]) -> list[Interval]:
    """The same set as sorted, disjoint intervals."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """Where two sorted, disjoint interval lists overlap."""
    found: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            found.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return found


def subtract(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """``a`` without ``b`` (both sorted and disjoint)."""
    left: list[Interval] = []
    for start, end in a:
        for cut_start, cut_end in b:
            if cut_end <= start or cut_start >= end:
                continue
            if cut_start > start:
                left.append((start, cut_start))
            start = max(start, cut_end)
        if start < end:
            left.append((start, end))
    return left


def measure(intervals: list[Interval]) -> float:
    """Total length of disjoint intervals."""
    return sum(end - start for start, end in intervals)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


@dataclass
class AgentRow:
    """One agent: skills, presence rows, offers."""

    id: int
    name: str
    languages: list[str]
    topics: list[str]
    changes: list[tuple[float, str, str]] = field(default_factory=list)  # (at, presence, reason)
    offers: list[Any] = field(default_factory=list)

    def available(self, end: float) -> list[Interval]:
        """When the agent's presence rows say available."""
        spans = []
        for n, (at, presence, _) in enumerate(self.changes):
            until = self.changes[n + 1][0] if n + 1 < len(self.changes) else end
            if presence == AVAILABLE:
                spans.append((at, until))
        return union(spans)

    def reason_at(self, t: float) -> str:
        """The reason of the row in force at ``t``."""
        reason = "never set"
        for at, _, why in self.changes:
            if at > t:
                break
            reason = why
        return reason


@dataclass
class Stretch:
    """A caller's longest idle-eligible stretch, for the notes."""

    entry: int
    start: float
    seconds: float
    idle: list[str]


@dataclass
class Distribution:
    """What the distribution checks found."""

    waits: list[float]  # idle-eligible seconds, one per caller who queued
    offers: int
    outcomes: dict[str, int]
    open_offers: int
    agent_overlaps: list[str]
    entry_overlaps: list[str]
    largest_overlap: float
    after_hangup: list[str]
    worst: list[Stretch]
    signed_in: int  # agents with a web session (the bench has none)
    callback_waits: list[float]  # idle-eligible seconds of the call-back requests
    callbacks: dict[str, int]  # call-back requests by the state their stay ended in
    callback_rings: int  # agents' phones rung for call-back requests, after the caller left
    ring_overlaps: list[str]  # two rings of one call-back request at once
    callback_numbers: dict[int, str]  # each call-back request's customer, by stay
    misses: dict[str, int]  # agent name -> offers missed
    # Idle-eligible seconds by how the agent idle longest at a stretch's start became free.
    by_cause: dict[str, float]


def seconds(value: datetime | None, origin: datetime) -> float | None:
    """Seconds after ``origin`` (naive database values are UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - origin).total_seconds()


QUERIES = {
    "agents": "SELECT id, name, languages, topics, session_expires_at, disabled_at FROM agents",
    "changes": "SELECT agent_id, presence, reason, began_at, entry_id FROM agent_presence_changes "
    "ORDER BY began_at, id",
    "offers": "SELECT id, agent_id, entry_id, offered_at, ended_at, outcome, status "
    "FROM agent_offers ORDER BY offered_at, id",
    "entries": "SELECT e.id, e.topic, e.language, e.entered_at, e.left_at, e.bridged_at, "
    "e.result, e.state, e.leave_reason, e.from_number, c.ended_at "
    "FROM queue_entries e JOIN calls c ON c.id = e.call_id",
}


def as_list(value: Any) -> list[str]:
    """A JSON column as read by a raw query (a list, or its text on some drivers)."""
    if isinstance(value, str):
        return list(json.loads(value))
    return list(value or [])


def wait_for_callbacks(engine: Engine, deadline: float) -> int:
    """Wait until no call-back request is left or being called back (their callers hung up
    long ago: the calls ending says nothing of them); the number still left at ``deadline``."""
    left = 0
    while True:
        with engine.connect() as conn:
            left = conn.scalar(text("SELECT count(*) FROM queue_entries "
                                    "WHERE state IN ('callback', 'dialing')")) or 0  # fmt: skip
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def check_distribution(engine: Engine, origin: datetime, end: datetime) -> Distribution:
    """Idle-eligible waits, double offers and offers after hanging up (see the docstring)."""
    with engine.connect() as conn:
        rows = {name: list(conn.execute(text(sql)).all()) for name, sql in QUERIES.items()}
    stop = seconds(end, origin) or 0.0
    agents = {
        r.id: AgentRow(r.id, r.name, as_list(r.languages), as_list(r.topics))
        for r in rows["agents"]
    }
    signed_in = sum(1 for r in rows["agents"] if r.session_expires_at or r.disabled_at)
    for r in rows["changes"]:
        agents[r.agent_id].changes.append((seconds(r.began_at, origin), r.presence, r.reason))
    # Each ring of an agent's phone for a stay, until that agent's next presence row.
    rings_of_entry: dict[int, list[Interval]] = defaultdict(list)
    by_agent: dict[int, list[Any]] = defaultdict(list)
    for r in rows["changes"]:
        by_agent[r.agent_id].append(r)
    for changes in by_agent.values():
        for n, r in enumerate(changes):
            if r.reason == "ringing" and r.entry_id is not None:
                until = seconds(changes[n + 1].began_at, origin) if n + 1 < len(changes) else stop
                rings_of_entry[r.entry_id].append((seconds(r.began_at, origin), until))
    offers_of_entry: dict[int, list[Any]] = defaultdict(list)
    for r in rows["offers"]:
        agents[r.agent_id].offers.append(r)
        offers_of_entry[r.entry_id].append(r)

    def span(offer: Any) -> Interval:
        ended = seconds(offer.ended_at, origin)
        return (seconds(offer.offered_at, origin), stop if ended is None else ended)

    idle = {
        a.id: subtract(a.available(stop), union([span(o) for o in a.offers]))
        for a in agents.values()
    }
    waits: list[float] = []
    by_cause: dict[str, float] = defaultdict(float)
    worst: list[Stretch] = []
    after_hangup: list[str] = []
    callback_waits: list[float] = []
    callbacks: dict[str, int] = defaultdict(int)
    callback_rings = 0
    ring_overlaps: list[str] = []
    callback_numbers: dict[int, str] = {}
    for e in rows["entries"]:
        start = seconds(e.entered_at, origin)
        ends = [seconds(t, origin) for t in (e.bridged_at, e.left_at, e.ended_at) if t]
        offered = union([span(o) for o in offers_of_entry[e.id]])
        called_back = e.leave_reason == "callback" and e.result == "leave"
        if called_back:
            rings = sorted(rings_of_entry[e.id])
            left = seconds(e.left_at, origin) or start
            callback_rings += sum(1 for r in rings if r[0] >= left)
            callbacks[e.state] += 1
            callback_numbers[e.id] = e.from_number
            for (_, ended), (began, _) in pairwise(rings):
                if ended - began > TOLERANCE:
                    ring_overlaps.append(f"call-back {e.id}: a ring began {ended - began:.2f} s "
                                         "before the one before it ended")  # fmt: skip
            # Waits in its place until the ring that reached the customer (the last one).
            served = rings[-1][0] if e.state == "done" and rings else stop
            waiting = union([(start, served)])
            offered = union(offered + rings)
        else:
            waiting = union([(start, min(ends, default=stop))])
        eligible = [a for a in agents.values() if e.topic in a.topics and e.language in a.languages]
        someone_idle = union([i for a in eligible for i in idle[a.id]])
        stretches = intersect(subtract(waiting, offered), someone_idle)
        waits.append(measure(stretches))
        if called_back:
            callback_waits.append(measure(stretches))
        for s, t in stretches:
            by_cause[cause(s, eligible, idle)] += t - s
        if stretches:
            s, t = max(stretches, key=lambda i: i[1] - i[0])
            names = [f"{a.name} ({a.reason_at(s)})" for a in eligible
                     if any(i[0] <= s < i[1] for i in idle[a.id])]  # fmt: skip
            worst.append(Stretch(e.id, s, t - s, names))
        gone = [seconds(e.ended_at, origin)] if e.ended_at else []
        if e.result == "hangup" and e.left_at:
            gone.append(seconds(e.left_at, origin))
        for o in offers_of_entry[e.id]:
            if gone and seconds(o.offered_at, origin) > min(gone):
                late = seconds(o.offered_at, origin) - min(gone)
                after_hangup.append(f"entry {e.id} offered to agent {o.agent_id} {late:.2f} s "
                                    "after the caller had gone")  # fmt: skip
    agent_overlaps, largest_a = overlaps(
        {f"agent {agents[k].name}": a.offers for k, a in agents.items()}, origin, stop
    )
    entry_overlaps, largest_e = overlaps(
        {f"entry {k}": v for k, v in offers_of_entry.items()}, origin, stop
    )
    outcomes: dict[str, int] = defaultdict(int)
    misses: dict[str, int] = defaultdict(int)
    for r in rows["offers"]:
        outcomes[r.outcome or "open"] += 1
        if r.outcome == "missed":
            misses[agents[r.agent_id].name] += 1
    worst.sort(key=lambda s: -s.seconds)
    return Distribution(
        waits=waits,
        offers=len(rows["offers"]),
        outcomes=dict(outcomes),
        open_offers=sum(1 for r in rows["offers"] if r.ended_at is None),
        agent_overlaps=agent_overlaps,
        entry_overlaps=entry_overlaps,
        largest_overlap=max(largest_a, largest_e),
        after_hangup=after_hangup,
        worst=worst[:3],
        signed_in=signed_in,
        misses=dict(misses),
        by_cause=dict(by_cause),
        callback_waits=callback_waits,
        callbacks=dict(callbacks),
        callback_rings=callback_rings,
        ring_overlaps=ring_overlaps,
        callback_numbers=callback_numbers,
    )


def cause(at: float, eligible: list[AgentRow], idle: dict[int, list[Interval]]) -> str:
    """Why an agent was free at ``at``: the reason of the eligible agent idle longest then."""
    since = [(i[0], a) for a in eligible for i in idle[a.id] if i[0] <= at < i[1]]
    if not since:
        return "?"
    return min(since, key=lambda pair: pair[0])[1].reason_at(at)


def overlaps(
    groups: dict[str, list[Any]], origin: datetime, stop: float
) -> tuple[list[str], float]:
    """Offers of one group (an agent's, an entry's) that overlap in time, beyond TOLERANCE."""
    found: list[str] = []
    largest = 0.0
    for name, offers in groups.items():
        ordered = sorted(offers, key=lambda o: (o.offered_at, o.id))
        for before, after in pairwise(ordered):
            ended = seconds(before.ended_at, origin)
            overlap = (stop if ended is None else ended) - seconds(after.offered_at, origin)
            largest = max(largest, overlap)
            if overlap > TOLERANCE:
                found.append(f"{name}: offer {after.id} began {overlap:.2f} s before offer "
                             f"{before.id} ended")  # fmt: skip
    return found, largest


def report_distribution(options: Options, figures: Figures, seen: Observed) -> None:
    """The distribution checks' rows and verdicts (the idle-eligible goal only when automatic)."""
    engine = seen.db.engine()
    try:
        found = check_distribution(engine, seen.started_wall, seen.ended_wall)
    finally:
        engine.dispose()
    figures.add(
        "offers (answered, missed, withdrawn, still open)",
        f"{found.offers} ({found.outcomes.get('answered', 0)}, {found.outcomes.get('missed', 0)}, "
        f"{found.outcomes.get('withdrawn', 0)}, {found.open_offers})",
    )
    figures.add(
        "offers missed per agent",
        ", ".join(f"{name} {n}" for name, n in sorted(found.misses.items())) or "none",
    )
    figures.add(
        "double offers: to one agent / of one caller (largest overlap)",
        f"{len(found.agent_overlaps)} / {len(found.entry_overlaps)} "
        f"({max(found.largest_overlap, 0) * 1000:.0f} ms)",
    )
    figures.check(not found.agent_overlaps and not found.entry_overlaps, "an offer was doubled")
    figures.check(not found.open_offers, "some offers never ended")
    figures.add("callers offered after hanging up", len(found.after_hangup))
    figures.check(not found.after_hangup, "a caller was offered after hanging up")
    figures.notes += (found.agent_overlaps + found.entry_overlaps + found.after_hangup)[:5]
    waits = found.waits
    p99 = percentile(waits, 99)
    figures.add(
        "**idle-eligible wait** p50 / p95 / p99 / max (real s, over callers who queued)",
        " / ".join(f"{percentile(waits, q):.2f}" for q in (50, 95, 99))
        + f" / {max(waits, default=0):.2f} s over {len(waits)} callers"
        + f" ({sum(1 for w in waits if w > 0)} with any)",
    )
    if not options.manual:
        figures.check(p99 < GOAL_P99, f"idle-eligible wait p99 {p99:.2f} s ≥ {GOAL_P99:g} s")
    report_callbacks(figures, seen, found)
    figures.check(not found.signed_in, "an agent signed in or was disabled (not reconstructed)")
    figures.add(
        "idle-eligible seconds by how the agent idle longest became free",
        ", ".join(
            f"{why} {n:.1f}" for why, n in sorted(found.by_cause.items(), key=lambda i: -i[1])
        )
        or "none",
    )
    for stretch in found.worst:
        figures.notes.append(
            f"longest idle-eligible stretch of entry {stretch.entry}: {stretch.seconds:.2f} s "
            f"from {stretch.start:.1f} s, idle: {', '.join(stretch.idle) or '?'}"
        )


def report_callbacks(figures: Figures, seen: Observed, found: Distribution) -> None:
    """Each call-back request called back exactly once, never rung twice at once."""
    placed = Counter(result.to for result in seen.sim.outbound_results)
    numbers = found.callback_numbers
    once = sum(1 for number in numbers.values() if placed[number] == 1)
    done = found.callbacks.get("done", 0)
    figures.add(
        "call-back requests: called back (stays done, customers rung exactly once) / rings",
        f"{len(numbers)}: {done}, {once} / {found.callback_rings} "
        f"(states: {', '.join(f'{k} {v}' for k, v in sorted(found.callbacks.items())) or '-'})",
    )
    figures.check(done == once == len(numbers), "a call-back request was not called back once")
    figures.check(not found.ring_overlaps, "a call-back request was rung twice at once")
    figures.notes += found.ring_overlaps[:5]
    figures.notes += [f"call-back {entry} ({number}): {placed[number]} calls to the customer"
                      for entry, number in numbers.items() if placed[number] != 1][:5]  # fmt: skip
    waits = found.callback_waits
    figures.add(
        "idle-eligible wait of the call-back requests p50 / p99 / max (real s, in the above)",
        " / ".join(f"{percentile(waits, q):.2f}" for q in (50, 99))
        + f" / {max(waits, default=0):.2f} s over {len(waits)} requests",
    )
