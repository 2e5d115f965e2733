"""The end-to-end benchmark's checks: what the simulator, the database, the audio and the logs
say about a run (bench/end_to_end.py runs it and reports)."""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from e2e_distribution import percentile, report_distribution
from sqlalchemy import inspect, text

from ivr.simulator import CallResult

if TYPE_CHECKING:
    from end_to_end import Database, Figures, Observed, Options, PlannedCall, Service

TERMINAL_CALL = {"completed", "busy", "failed", "no-answer", "canceled"}
# Events each of these scripts causes at most once per call: a replayed webhook must not add one.
ONCE_PER_CALL = (
    "incoming",
    "status",
    "order_lookup",
    "voicemail_recorded",
    "queue_entered",
    "queue_left",
    "bridged",
    "language",
)
WORKER_DONE = re.compile(r"voicemail (\d+): (\w+)")
# Lines of the processes' logs that show trouble (the service logs JSON, gunicorn plain text).
LOG_PROBLEMS = {
    "errors": re.compile(r'"level": "(error|critical)"|\[(ERROR|CRITICAL)\]'),
    "database is locked": re.compile(r"database is locked"),
    "deadlocks": re.compile(r"deadlock detected"),
    "worker timeouts": re.compile(r"WORKER TIMEOUT"),
}


def call_result(call: PlannedCall) -> tuple[CallResult | None, str | None]:
    """The simulator's result of a call, or why there is none."""
    assert call.handle is not None
    try:
        return call.handle.result(timeout=0), None
    except Exception as exc:  # a SimulatorError carries the call as far as it went
        return getattr(exc, "result", None), f"{type(exc).__name__}: {exc}"


def verify(options: Options, figures: Figures, seen: Observed) -> None:
    """Compare what the service kept with what the simulator did; fill ``figures``."""
    kinds = Counter(call.kind for call in seen.planned)
    figures.add(
        "calls placed at once",
        f"{len(seen.planned)} ({kinds['menu']} menu, "
        f"{kinds['queue']} queue, {kinds['callback']} asking to be called back, "
        f"{kinds['voicemail']} message)",
    )
    results = check_simulator(options, figures, seen)
    rows = database_rows(seen.db)
    every_call_logged = check_calls(options, figures, seen, results, rows)
    once = check_messages(figures, seen, rows, kinds["voicemail"])
    check_audio(figures, seen, rows)
    figures.add(
        "doubled call events / queue stays",
        f"{len(rows.doubled_events)} / {len(rows.doubled_entries)}",
    )
    figures.check(
        not rows.doubled_events and not rows.doubled_entries, "something was recorded twice"
    )
    figures.notes += [f"doubled: {sid} {kind} ×{n}" for sid, kind, n in rows.doubled_events[:5]]
    report_distribution(options, figures, seen)
    check_processes(figures, seen)
    figures.verdict = every_call_logged and once


def check_simulator(
    options: Options, figures: Figures, seen: Observed
) -> list[tuple[PlannedCall, CallResult]]:
    """Errors, HTTP statuses and latency as Twilio (the simulator) saw them."""
    results: list[tuple[PlannedCall, CallResult]] = []
    crashed: list[str] = []
    for call in seen.planned:
        result, problem = call_result(call)
        if result is not None:
            results.append((call, result))
        if problem:
            crashed.append(problem)
    with seen.sim.lock:
        legs = [r for _, r in results] + list(seen.sim.outbound_results)
    sent = [request for leg in legs for request in leg.requests]
    errors = [error for leg in legs for error in leg.errors]
    warnings = [warning for leg in legs for warning in leg.warnings]
    statuses = Counter(request.status for request in sent)
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    client_errors = sum(n for status, n in statuses.items() if 400 <= status < 500)
    latencies = [request.seconds for request in sent]
    figures.add(
        "webhook requests (incl. agents' legs)",
        f"{len(sent)}" + (" (each sent twice)" if options.replay else ""),
    )
    figures.check(seen.calls_ended, "some calls were still running at the time limit")
    figures.add("time until all calls ended", f"{seen.all_ended:.1f} s")
    figures.add(
        "webhook latency p50 / p99 / max",
        " / ".join(
            f"{ms:.0f} ms"
            for ms in (
                percentile(latencies, 50) * 1000,
                percentile(latencies, 99) * 1000,
                max(latencies, default=0) * 1000,
            )
        ),
    )
    figures.add(
        "HTTP 5xx / 4xx / unreachable", f"{server_errors} / {client_errors} / {statuses.get(0, 0)}"
    )
    figures.check(not server_errors and not statuses.get(0), "webhooks answered 5xx or not at all")
    figures.check(not client_errors, "webhooks answered 4xx")
    figures.add(
        "simulator errors (dead air, app errors) / warnings",
        f"{len(errors) + len(crashed)} / {len(warnings)}",
    )
    figures.check(not errors and not crashed, "the simulator reported errors")
    figures.notes += [
        f"simulator error ×{n}: {e}" for e, n in Counter(crashed + errors).most_common(5)
    ]
    figures.notes += [f"simulator warning ×{n}: {w}" for w, n in Counter(warnings).most_common(3)]
    return results


def check_calls(
    options: Options,
    figures: Figures,
    seen: Observed,
    results: list[tuple[PlannedCall, CallResult]],
    rows: Rows,
) -> bool:
    """Every inbound CallSid in /api/v1/calls, finished, with the outcome its script leads to.

    The agents' legs (placed through the REST API) are not calls of the call log; they are
    checked against the callers they talked to (``check_conversations``).
    """
    logged = {call["sid"]: call for call in seen.api.pages("/api/v1/calls")}
    sids = [result.sid for _, result in results]
    missing = [sid for sid in sids if sid not in logged]
    open_calls = [
        sid for sid in sids if sid in logged and logged[sid]["status"] not in TERMINAL_CALL
    ]
    outcomes: Counter[str] = Counter()
    unexpected: list[str] = []
    for call, result in results:
        if result.sid in logged:
            outcome = logged[result.sid]["outcome"]
            outcomes[str(outcome)] += 1
            if outcome not in call.expected_outcomes:
                unexpected.append(f"{call.kind} call {result.sid}: outcome {outcome}")
    figures.add(
        "inbound calls logged (/api/v1/calls)",
        f"{len(sids) - len(missing)} of {len(seen.planned)} ({len(logged)} rows)",
    )
    figures.add("calls without a final status", len(open_calls))
    figures.add("outcomes", ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    figures.check(not unexpected, "some calls ended with an unexpected outcome")
    figures.notes += unexpected[:5]
    if options.manual:
        taken: Counter[str] = Counter()
        for desk in seen.desks:
            taken.update(desk.statuses)
        figures.add(
            "take-next answered",
            ", ".join(f"{n}× {status}" for status, n in sorted(taken.items())),
        )
        figures.check(
            not any(s.startswith("5") or s == "unreachable" for s in taken), "take-next failed"
        )
    check_conversations(figures, seen, results, rows, {s: c["outcome"] for s, c in logged.items()})
    return figures.check(
        not missing and not open_calls and len(sids) == len(seen.planned) == len(logged),
        "not every call is logged with a final status",
    )


def check_conversations(
    figures: Figures,
    seen: Observed,
    results: list[tuple[PlannedCall, CallResult]],
    rows: Rows,
    outcome_of: dict[str, str],
) -> None:
    """Every caller who talked to an agent (heard one, or logged with the outcome ``agent``)
    heard that agent in a conference (not a queue bridge), the call log's ``bridged`` event names
    the agent whose number they heard, and the agent's leg on their queue entry heard them.

    A caller who hung up as the agent answered has a ``bridged`` event but heard nobody: counted
    apart, not a failure."""
    phone_of = {desk.name: desk.phone for desk in seen.desks}
    with seen.sim.lock:
        legs = {r.sid: r for r in seen.sim.outbound_results if r.direction == "outbound-api"}
    talked = wrong = gone = 0
    for call, result in results:
        named = rows.bridged_agent.get(result.sid)
        heard = result.talked_with()
        if heard is None and outcome_of.get(result.sid) != "agent":
            if named is not None:
                gone += 1
                figures.notes.append(
                    f"caller {result.sid} hung up as {named} answered: {tail(result)}"
                )
            continue
        talked += 1
        leg = legs.get(rows.leg_of_caller.get(result.sid) or "")
        problem = None
        if result.bridged_to is not None or not result.heard_in_conference:
            problem = f"heard {heard} outside a conference"
        elif named is None or phone_of.get(named) != heard:
            problem = f"heard {heard}, the call log's bridged event names {named}"
        elif leg is None or call.caller.number not in leg.heard_in_conference:
            problem = "the agent's leg on the queue entry did not hear them"
        if problem:
            wrong += 1
            figures.notes.append(f"caller {result.sid}: {problem}; {tail(result)}")
            if leg is not None:
                figures.notes.append(f"  their agent's leg {leg.sid}: {tail(leg)}")
    figures.add(
        "agents' legs placed / callers who talked to an agent / in a conference with the agent "
        "the call log names (callers who hung up as the agent answered)",
        f"{len(legs)} / {talked} / {talked - wrong} ({gone})",
    )
    figures.check(not wrong, "some callers did not talk to the agent the call log names")


def tail(result: CallResult, lines: int = 4) -> str:
    """The last lines of a leg's transcript, on one line."""
    return " | ".join(line.render().strip() for line in result.transcript[-lines:])


@dataclass
class Rows:
    """What the shared database holds."""

    messages: list[Any]
    doubled_events: list[Any]
    doubled_entries: list[Any]
    audio_rows: int | None
    leg_of_caller: dict[str, str | None]  # CallSid of a bridged caller -> agent_call_sid
    bridged_agent: dict[str, str]  # caller's CallSid -> the agent its bridged event names


def database_rows(db: Database) -> Rows:
    """Messages, doubled events and queue stays, and recordings kept in the database."""
    once = ", ".join(f"'{kind}'" for kind in ONCE_PER_CALL)
    queries = {
        "messages": "SELECT id, recording_sid, call_sid, status, status_reason, attempts, "
        "transcript FROM voicemails ORDER BY id",
        # A caller put back in line after a failed bridge enters, leaves and is bridged again.
        "events": "SELECT c.sid, e.kind, count(*) FROM call_events e "
        f"JOIN calls c ON c.id = e.call_id WHERE e.kind IN ({once}) "
        "GROUP BY c.sid, c.id, e.kind HAVING count(*) > 1 + CASE WHEN e.kind IN "
        "('queue_entered', 'queue_left', 'bridged') THEN (SELECT count(*) FROM call_events f "
        "WHERE f.call_id = c.id AND f.kind = 'bridge_failed') ELSE 0 END",
        "entries": "SELECT call_sid, count(*) FROM queue_entries GROUP BY call_sid "
        "HAVING count(*) > 1",
        "legs": "SELECT call_sid, agent_call_sid FROM queue_entries WHERE bridged_at IS NOT NULL",
        "bridged": "SELECT c.sid, e.detail FROM call_events e JOIN calls c ON c.id = e.call_id "
        "WHERE e.kind = 'bridged' ORDER BY e.id",
    }
    engine = db.engine()
    try:
        with engine.connect() as conn:
            found = {name: list(conn.execute(text(sql)).all()) for name, sql in queries.items()}
            audio = (
                conn.scalar(text("SELECT count(*) FROM voicemail_audio"))
                if "voicemail_audio" in inspect(conn).get_table_names()
                else None
            )
    finally:
        engine.dispose()
    legs = {caller: leg for caller, leg in found["legs"]}
    bridged = {}
    for sid, detail in found["bridged"]:
        detail = json.loads(detail) if isinstance(detail, str) else detail
        bridged[sid] = detail.get("agent")
    return Rows(found["messages"], found["events"], found["entries"], audio, legs, bridged)


def worker_log_counts(services: list[Service]) -> dict[str, Counter[int]]:
    """Per worker: how often it logged each message as transcribed."""
    counts: dict[str, Counter[int]] = {}
    for service in services:
        if service.role == "worker":
            found = WORKER_DONE.findall(service.log_path.read_text(errors="replace"))
            counts[service.name] = Counter(int(i) for i, status in found if status == "transcribed")
    return counts


def check_messages(figures: Figures, seen: Observed, rows: Rows, callers: int) -> bool:
    """Exactly one message per recording, each transcribed exactly once."""
    messages = rows.messages
    by_recording = Counter(row.recording_sid for row in messages)
    made = set(seen.recordings)
    lost, unknown = made - set(by_recording), set(by_recording) - made
    per_call = Counter(row.call_sid for row in messages)
    figures.add("messages left (recordings made)", f"{len(made)} of {callers} callers")
    figures.add(
        "messages in the database",
        f"{len(messages)} (lost {len(lost)}, unexpected "
        f"{len(unknown)}, calls with two {sum(1 for n in per_call.values() if n > 1)})",
    )
    statuses = Counter(row.status for row in messages)
    attempts = Counter(row.attempts for row in messages)
    per_worker = worker_log_counts(seen.services)
    transcribed_by: Counter[int] = Counter()
    for counts in per_worker.values():
        transcribed_by.update(counts)
    twice = [ident for ident, n in transcribed_by.items() if n > 1]
    empty = [
        row.id
        for row in messages
        if row.status == "transcribed" and not (row.transcript or "").strip()
    ]
    unlogged = [
        row.id for row in messages if row.status == "transcribed" and transcribed_by[row.id] != 1
    ]
    figures.add("message statuses", ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    figures.add("attempts per message", ", ".join(f"{k}: {v}" for k, v in sorted(attempts.items())))
    figures.add(
        "transcribed twice (workers' logs) / empty transcripts", f"{len(twice)} / {len(empty)}"
    )
    figures.add(
        "transcribed per worker",
        ", ".join(f"{name} {sum(c.values())}" for name, c in sorted(per_worker.items())),
    )
    figures.notes += [
        f"message {row.id}: {row.status} after {row.attempts} attempts: "
        f"{(row.status_reason or '')[:160]}"
        for row in messages
        if row.status != "transcribed" or row.attempts > 1
    ][:5]
    if done_at := [m["transcribed_at"] for m in seen.messages if m.get("transcribed_at")]:
        last = max(datetime.fromisoformat(t.replace("Z", "+00:00")) for t in done_at)
        figures.add(
            "time until the last transcript", f"{(last - seen.started_wall).total_seconds():.1f} s"
        )
    return figures.check(
        not lost
        and not unknown
        and len(messages) == len(made) == callers
        and statuses.get("transcribed", 0) == len(messages)
        and not twice
        and not empty
        and not unlogged,
        "not every message is transcribed exactly once",
    )


def check_audio(figures: Figures, seen: Observed, rows: Rows) -> None:
    """Each recording read back through the web processes, byte for byte."""
    recording_of = {row.id: row.recording_sid for row in rows.messages}
    readable = 0
    for message in seen.messages:
        sid = recording_of.get(message["id"])
        if message.get("audio_url") and sid in seen.recordings:
            with contextlib.suppress(requests.RequestException):
                reply = seen.api.get(message["audio_url"])
                readable += reply.status_code == 200 and reply.content == seen.recordings[sid]
    audio_rows = "no table" if rows.audio_rows is None else rows.audio_rows
    figures.add("recordings kept in the database (voicemail_audio)", f"{audio_rows} rows")
    figures.add(
        "audio read back through the API, same bytes", f"{readable} of {len(rows.messages)}"
    )
    figures.check(readable == len(rows.messages), "some audio cannot be read through the API")


def log_problems(path: Path) -> Counter[str]:
    """Lines of a process's log that show trouble, by kind."""
    found: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        for kind, pattern in LOG_PROBLEMS.items():
            if pattern.search(line):
                found[kind] += 1
    return found


def check_processes(figures: Figures, seen: Observed) -> None:
    """Peak memory, and errors in every process's own log."""
    web = seen.sampler.peak_mib("web")
    workers = seen.sampler.peak_mib("worker")
    figures.add(
        "peak RSS web processes (gunicorn workers, master)",
        ", ".join(f"{m:.0f}" for m in web) + " MiB",
    )
    figures.add("peak RSS transcription workers", ", ".join(f"{m:.0f}" for m in workers) + " MiB")
    problems: Counter[str] = Counter()
    for service in seen.services:
        found = log_problems(service.log_path)
        problems.update(found)
        if found:
            figures.notes.append(
                f"{service.name}.log: " + ", ".join(f"{k} ×{v}" for k, v in found.items())
            )
    figures.add(
        "errors in the processes' logs",
        ", ".join(f"{k} {v}" for k, v in sorted(problems.items())) or "none",
    )
    figures.check(not problems, "the processes logged errors")
