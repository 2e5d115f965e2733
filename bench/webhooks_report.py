"""The webhook bench's goals and its Markdown report."""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from harness import (
    BIN,
    code_version,
    cpu_model,
    gunicorn_workers,
)
from webhook_calls import (
    Discovered,
    route,
)

WARMUP_SECONDS = 3
GOAL_RATIO = 0.5
GOAL_P99_MS = 25.0


@dataclass
class Load:
    """What wrk measured, and the CPU time spent meanwhile."""

    result: dict[str, Any]
    command: list[str]
    server_cpu: float
    wrk_cpu: float
    machine_busy: float
    wall: float

    @property
    def rps(self) -> float:
        """Completed requests per second."""
        return float(self.result["requests"]) / (self.result["duration_us"] / 1e6)

    def ms(self, name: str) -> float:
        """A latency figure in milliseconds."""
        return float(self.result["latency_us"][name]) / 1000

    @property
    def non_2xx(self) -> int:
        """Answers that were not 2xx."""
        return sum(n for key, n in self.result["statuses"].items() if not key.startswith("2"))


def verdict(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


def report(
    args: argparse.Namespace,
    *,
    database: str,
    baseline: Load,
    app: Load,
    floor: Load | None,
    baseline_bytes: int,
    discovered: list[Discovered],
    pool_calls: int,
    pool_requests: int,
    rows: dict[str, int],
    load_before: str,
    app_command: list[str],
) -> str:
    """The Markdown results."""
    cores = os.cpu_count() or 1
    weights = sum(d.scenario.weight for d in discovered)
    per_call = sum(len(d.paths) * d.scenario.weight for d in discovered) / weights
    mix = "; ".join(
        f"{d.scenario.name} {d.scenario.weight / weights:.0%} ({len(d.paths)} webhooks)"
        for d in discovered
    )
    kinds: Counter[str] = Counter()
    for d in discovered:
        for path in d.paths:
            kinds[route(path)] += d.scenario.weight
    ratio = app.rps / baseline.rps
    p99 = app.ms("p99")
    server_cmd = shlex.join(app_command).replace(str(BIN) + "/", ".venv/bin/")
    lines = [
        f"## Webhooks under load: hotline vs a minimal Flask app ({database})",
        "",
        "| | |",
        "| --- | --- |",
        f"| machine | `{platform.machine()}`, {cpu_model()}, {cores} cores "
        "(shared by wrk, gunicorn, the database and anything else running) |",
        f"| load average before | {load_before} |",
        f"| date | {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} |",
        f"| command | `{shlex.join(sys.orig_argv)}` |",
        f"| code | {code_version()} |",
        f"| server | `{server_cmd}` (the Procfile's web command; no access log; "
        f"{gunicorn_workers()} single-threaded processes from `ivr/ops/gunicorn_hooks.py`), "
        "HOTLINE_ENV=production, signatures checked, HOTLINE_WORKER=off, fresh data folder, "
        "migrated database |",
        f"| load | `wrk -t{args.threads} -c{args.connections} -d{args.seconds}s --latency "
        f"--timeout 10s -s <generated>.lua` after a {WARMUP_SECONDS} s warm-up, same requests "
        "for both servers |",
        f"| database | {database} |",
        f"| requests | {pool_requests} distinct signed requests from {pool_calls} calls, "
        f"{per_call:.1f} webhooks per call: {mix} |",
        f"| baseline | Flask, one route answering static TwiML of {baseline_bytes} bytes "
        "(the app's median TwiML answer) |",
        "| floor | the baseline plus what any durable webhook must do: parse the form, check "
        "X-Twilio-Signature, commit one row to the same database (`create_floor`) |",
        "",
        "| server | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | "
        "socket errors | repeated requests | server CPU s | server CPU ms/request | wrk CPU s "
        "| machine busy s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: |",
    ]
    servers = [("baseline (minimal Flask)", baseline), ("hotline", app)]
    if floor is not None:
        servers.insert(1, ("floor (signature + one commit)", floor))
    for name, load in servers:
        e = load.result["errors"]
        socket_errors = e["connect"] + e["read"] + e["write"] + e["timeout"]
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(load.result["statuses"].items()))
        lines.append(
            f"| {name} | {load.result['requests']} | {load.rps:.0f} | {load.ms('p50'):.1f} "
            f"| {load.ms('p90'):.1f} | {load.ms('p99'):.1f} | {load.ms('max'):.1f} "
            f"| {load.non_2xx} ({statuses}) | {socket_errors} | {load.result['repeats']} "
            f"| {load.server_cpu:.1f} "
            f"| {load.server_cpu / max(load.result['requests'], 1) * 1000:.2f} | {load.wrk_cpu:.1f} "
            f"| {load.machine_busy:.1f} of {load.wall * cores:.0f} |"
        )
    lines += [
        "",
        "| goal | measured | goal | measured / goal | result |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| hotline req/s ÷ baseline req/s | {ratio:.2f} | ≥ {GOAL_RATIO} "
        f"| {ratio / GOAL_RATIO:.2f} | {verdict(ratio >= GOAL_RATIO)} |",
        f"| hotline p99 latency | {p99:.1f} ms | < {GOAL_P99_MS:.0f} ms "
        f"| {p99 / GOAL_P99_MS:.2f} | {verdict(p99 < GOAL_P99_MS)} |",
        f"| hotline non-2xx answers | {app.non_2xx} | 0 | – | {verdict(app.non_2xx == 0)} |",
        "",
    ]
    if floor is not None:
        lines += [
            f"The floor answers {floor.rps / baseline.rps:.2f} × the baseline's requests per "
            f"second with a p99 of {floor.ms('p99'):.1f} ms; hotline answers "
            f"{app.rps / floor.rps:.2f} × the floor's.",
            "",
        ]
    lines += [
        f"Rows written (incl. discovery and warm-up): {rows['calls']} calls, "
        f"{rows['call_events']} call events, {rows['voicemails']} voicemails. "
        "Webhooks in the mix: "
        + ", ".join(f"`{k}` {v / sum(kinds.values()):.0%}" for k, v in kinds.most_common())
        + ".",
    ]
    return "\n".join(lines)
