"""Scale-out check: the real service in separate processes, hundreds of simulated calls at once.

What it does. It starts hotline the way a platform runs the ``Procfile``: one gunicorn
(``gunicorn -c python:ivr.ops.gunicorn_hooks app:app --workers W``, single-threaded, W = ``--web``) and K separate
transcription workers (``flask --app app voicemail work``, K = ``--workers``) with
``HOTLINE_WORKER=off``, all in production mode on one shared database, with
``HOTLINE_AUDIO_STORE=database`` and a data folder of their own each, as if every process ran
on a machine of its own. Twilio is the offline simulator (``ivr.simulator``): its REST API and
recordings are served on loopback (``TWILIO_API_BASE_URL``) and it places every call at once
over real HTTP, signing each webhook against ``PUBLIC_BASE_URL``, with simulated time running
``--time-scale`` real seconds per second so that waits are compressed. The calls are a mix:

* ~40% browse the menu: choose a language, ask for an order's status by its number (some
  press a wrong key or ``*`` first, some type an unknown number), then hang up;
* ~30% wait in a topic's queue (Chinese or English); the queues distribute by themselves (the
  shipped menu's default): the service rings a free agent who speaks the caller's language and
  serves the topic, the agent's scripted phone in the simulator answers, and the two talk in a
  conference; a caller not taken within their patience hangs up (abandoned). A third of them
  press 2 at their first hold music's options and hang up, asking to be called back in their
  place (unless an agent is being rung for them just then): an agent's phone rings, then the
  customer's (the simulator's default callee answers). The ``--agents``
  (20) have mixed skills (Chinese, English or both; one to four topics, see ``e2e_calls.STAFF``)
  and are made available through the API at the start; four of them miss every offer (two let
  it ring out, two decline), are set away by the service after two misses in a row, and make
  themselves available again through the API every ``--back-every`` seconds. With ``--manual``
  every queue is set ``distribution: manual`` and the agents press take-next
  (``POST /api/v1/agents/<name>/take-next``) instead;
* ~30% leave a voice message with real Korean speech (the clips of ``../shared/speech/ko``,
  cycled, through ``telephone_line``), which the workers transcribe with the packaged Korean
  model configured for the callers' language (``VOSK_MODEL_ZH``).

Then it waits for every transcript and checks what the service kept against what the simulator
did: every CallSid in ``/api/v1/calls`` with a final status and the outcome its script leads
to, exactly one message per recording, each transcribed exactly once (status, attempts, and
the workers' logs: no message transcribed by two workers), its audio readable through the API
from the web processes, and with ``--replay`` (every webhook and callback sent twice) that
nothing is doubled. Distribution is checked from the database (``e2e_distribution``): no
agent holds two offers at once and no caller is offered to two agents at once, no caller is
offered after hanging up, each call-back request called back exactly once and never rung
twice at once, every caller who talked to an agent heard that agent in a conference
and the call log's ``bridged`` event names that agent, and the **idle-eligible wait** — the
seconds a caller waits with no offer in flight while an agent who could serve them is idle —
is reported as p50/p95/p99/max over the callers who queued. It prints a Markdown table with the machine, the command, the figures
(simulator errors, HTTP 5xx, webhook latency as the simulator saw it, times, peak memory) and
PASS or FAIL; the exit status is 0 when every check passes, 1 when the verdict (every call
logged, every message transcribed exactly once) fails, 2 when only another check does.

How to run (from the repository root; PostgreSQL on 127.0.0.1:5432 with user postgres)::

    .venv/bin/python bench/end_to_end.py                        # 2 web + 3 workers, 200 calls
    .venv/bin/python bench/end_to_end.py --replay               # every webhook twice
    .venv/bin/python bench/end_to_end.py --calls 20             # a quick check
    .venv/bin/python bench/end_to_end.py --database sqlite      # one machine, a SQLite file

``--database`` takes ``postgresql://postgres@127.0.0.1:5432/NAME`` (NAME is created fresh and
dropped afterwards; the default is ``bench_e2e``, and ``test`` is refused), ``sqlite`` (a file
in the run folder) or ``sqlite:///PATH`` (a new file). ``--keep`` keeps the database and the
run folder (logs of every process) for a look afterwards; a failed run always keeps the logs.

Goals: the issue's scale-out check passes, i.e. with 2 web processes and 3 workers on
PostgreSQL, 200 calls at once are all logged and every message is transcribed exactly once,
with no 5xx and no simulator error, and replayed webhooks change nothing; with 20 agents
and automatic distribution, no double offer, no offer after hanging up, and a p99 idle-eligible
wait under 2 s (real seconds).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import logging
import os
import platform
import random
import re
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import free_port

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from e2e_calls import (  # noqa: E402
    SPEECH,
    AgentDesk,
    Api,
    PlannedCall,
    back_to_desk,
    drive_agents,
    load_clips,
    plan_calls,
    staff,
    wait_for_calls,
    wait_for_messages,
)
from e2e_checks import verify  # noqa: E402
from e2e_distribution import wait_for_callbacks  # noqa: E402
from e2e_service import (  # noqa: E402
    ACCOUNT_SID,
    DEFAULT_DATABASE,
    PUBLIC_BASE_URL,
    Database,
    MemorySampler,
    Service,
    prepare_database,
    run_cli,
    service_env,
    start_processes,
    stop_services,
    wait_until_up,
)

from ivr.simulator import (  # noqa: E402
    HttpTransport,
    RecordingServer,
    Simulator,
)

# -- options ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What to run: sizes, database, time compression."""

    calls: int
    web: int
    workers: int
    agents: int
    database: str | None
    replay: bool
    time_scale: float
    seed: int
    keep: bool
    manual: bool
    back_every: float
    shared_data_dir: bool
    audio_store: str
    call_timeout: float
    transcribe_timeout: float


def parse_options(argv: list[str] | None = None) -> Options:
    """Options from the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200, help="calls placed at once (200)")
    parser.add_argument("--web", type=int, default=2, help="gunicorn worker processes (2)")
    parser.add_argument("--workers", type=int, default=3, help="transcription worker processes (3)")
    parser.add_argument("--agents", type=int, default=20, help="scripted agents (20)")
    parser.add_argument(
        "--manual", action="store_true", help="queues wait for take-next (agents press it)"
    )
    parser.add_argument(
        "--back-every",
        type=float,
        default=10.0,
        help="real seconds between the missing agents' returns to available (10)",
    )
    parser.add_argument(
        "--database",
        default=None,
        help=f"postgresql://…/NAME, sqlite or sqlite:///PATH (default {DEFAULT_DATABASE})",
    )
    parser.add_argument("--replay", action="store_true", help="send every webhook twice")
    parser.add_argument(
        "--time-scale", type=float, default=0.1, help="real seconds per simulated second (0.1)"
    )
    parser.add_argument("--seed", type=int, default=2026, help="seed of the call mix")
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    parser.add_argument(
        "--shared-data-dir",
        action="store_true",
        help="one data folder for all processes (one machine) instead of one each",
    )
    parser.add_argument(
        "--audio-store",
        choices=["database", "files"],
        default="database",
        help="HOTLINE_AUDIO_STORE (database; files needs --shared-data-dir)",
    )
    parser.add_argument("--call-timeout", type=float, default=900.0, help="real seconds (900)")
    parser.add_argument(
        "--transcribe-timeout", type=float, default=900.0, help="real seconds (900)"
    )
    args = parser.parse_args(argv)
    if args.calls < 1 or args.web < 1 or args.workers < 1 or args.agents < 1:
        parser.error("--calls, --web, --workers and --agents must be at least 1")
    if not args.time_scale > 0:
        parser.error("--time-scale must be positive")
    if args.audio_store == "files" and not args.shared_data_dir:
        parser.error("--audio-store files needs --shared-data-dir (the folder is the store)")
    return Options(
        calls=args.calls,
        web=args.web,
        workers=args.workers,
        agents=args.agents,
        database=args.database,
        replay=args.replay,
        time_scale=args.time_scale,
        seed=args.seed,
        keep=args.keep,
        manual=args.manual,
        back_every=args.back_every,
        shared_data_dir=args.shared_data_dir,
        audio_store=args.audio_store,
        call_timeout=args.call_timeout,
        transcribe_timeout=args.transcribe_timeout,
    )


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Figures:
    """Everything measured, for the table."""

    rows: list[tuple[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # "Every call logged, every message transcribed exactly once": the bench's verdict.
    verdict: bool = False

    def add(self, name: str, value: object) -> None:
        """A row of the table."""
        self.rows.append((name, str(value)))

    def check(self, ok: bool, what: str) -> bool:
        """Note a failed check."""
        if not ok:
            self.failures.append(what)
        return ok


@dataclass
class Observed:
    """What a run produced, for the checks."""

    planned: list[PlannedCall]
    sim: Simulator
    api: Api
    db: Database
    desks: list[AgentDesk]
    services: list[Service]
    sampler: MemorySampler
    recordings: dict[str, bytes]
    messages: list[dict[str, Any]]
    started_wall: datetime
    ended_wall: datetime
    calls_ended: bool
    all_ended: float


def manual_menu(run_dir: Path) -> Path:
    """The shipped menu with every queue set to wait for take-next."""
    menu = (REPO / "ivr" / "callflow" / "menu.yaml").read_text(encoding="utf-8")
    menu = re.sub(r"^(    queue: \w+\n)", r"\1    distribution: manual\n", menu, flags=re.M)
    path = run_dir / "menu.yaml"
    path.write_text(menu, encoding="utf-8")
    return path


def seed_data(
    env: dict[str, str], run_dir: Path, agents: int, rng: random.Random
) -> tuple[str, list[AgentDesk], list[str]]:
    """API token, agents (``e2e_calls.STAFF``) and orders, through the CLI."""
    created = run_cli(["tokens", "create", "bench", "--scopes", "read,write"], env)
    token = created.strip().splitlines()[-1]
    statuses = ["pending", "shipped", "in_transit", "out_for_delivery", "delivered"]
    orders = [f"2026{n:06d}" for n in rng.sample(range(1, 999_999), 50)]
    orders_csv = run_dir / "orders.csv"
    with orders_csv.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["order_number", "status", "carrier", "eta"])
        for number in orders:
            writer.writerow([number, rng.choice(statuses), "SF Express", "2026-11-30"])
    run_cli(["orders", "import", str(orders_csv)], env)
    desks = staff(agents)
    for desk in desks:
        command = f"agents create {desk.name} --password bench-password --phone {desk.phone}"
        run_cli([*command.split(), "--languages", desk.languages, "--topics", desk.topics], env)
    return token, desks, orders


def run(options: Options, run_dir: Path, figures: Figures) -> None:
    """Start everything, place the calls, wait, check; ``figures`` gets the results."""
    rng = random.Random(options.seed)
    services: list[Service] = []
    sim: Simulator | None = None
    sampler: MemorySampler | None = None
    stop_agents = threading.Event()
    agent_threads: list[threading.Thread] = []
    db = prepare_database(options.database, run_dir)
    media = RecordingServer(ACCOUNT_SID, secrets.token_hex(16))
    try:
        print(f"database: {db.kind}; logs in {run_dir}", file=sys.stderr)
        env = service_env(db, media, run_dir / "data-web", options.audio_store)
        if options.manual:
            env["HOTLINE_MENU"] = str(manual_menu(run_dir))
        run_cli(["db", "upgrade"], env)
        token, desks, orders = seed_data(env, run_dir, options.agents, rng)
        planned = plan_calls(options.calls, rng, load_clips(), orders)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        services = start_processes(options, env, run_dir, port)
        sampler = MemorySampler(services)
        sampler.start()
        wait_until_up(base_url, services)
        api = Api(base_url, token)
        for desk in desks:
            reply = api.post(f"/api/v1/agents/{desk.name}/presence", {"presence": "available"})
            reply.raise_for_status()
        sim = Simulator(
            HttpTransport(base_url),
            public_base_url=PUBLIC_BASE_URL,
            auth_token=media.auth_token,
            account_sid=ACCOUNT_SID,
            fallback_path="/voice/fallback",
            recording_server=media,
            time_scale=options.time_scale,
            replay=options.replay,
        )
        for desk in desks:
            sim.add_agent(desk.phone_agent(rng))

        print(f"placing {len(planned)} calls at once", file=sys.stderr)
        started_wall = datetime.now(UTC)
        started = time.monotonic()
        for call in planned:
            call.handle = sim.start(call.caller)
        if options.manual:
            agent_threads = drive_agents(desks, base_url, token, stop_agents)
        else:
            agent_threads = [back_to_desk(desks, base_url, token, stop_agents, options.back_every)]
        calls_ended = wait_for_calls(planned, started + options.call_timeout)
        all_ended = time.monotonic() - started
        engine = db.engine()
        try:  # call-back requests are served after their callers hung up
            callbacks_left = wait_for_callbacks(engine, started + options.call_timeout)
        finally:
            engine.dispose()
        if callbacks_left:
            print(f"{callbacks_left} call-back requests never served", file=sys.stderr)
        stop_agents.set()
        for thread in agent_threads:
            thread.join(10)
        # Agents' legs may still be hanging up; a leg's own failure is in its result.
        with contextlib.suppress(Exception):
            sim.wait_idle(timeout=120)
        ended_wall = datetime.now(UTC)
        print(f"calls ended after {all_ended:.1f} s; waiting for transcripts", file=sys.stderr)
        # The messages' recordings, not the conversations' (recorded too, not messages).
        with sim.lock:
            conversations = {recording.sid for recording in sim.call_recordings.all}
        recordings = {k: v for k, v in media.recordings.items() if k not in conversations}
        messages = wait_for_messages(api, len(recordings), options.transcribe_timeout)
        sampler.stop()
        observed = Observed(
            planned,
            sim,
            api,
            db,
            desks,
            services,
            sampler,
            recordings,
            messages,
            started_wall,
            ended_wall,
            calls_ended,
            all_ended,
        )
        verify(options, figures, observed)
    finally:
        stop_agents.set()
        for thread in agent_threads:
            thread.join(10)
        if sim is not None:
            sim.close()
        if sampler is not None:
            sampler.stop()
        stop_services(services)
        media.close()
        if options.keep:
            print(f"kept: database {db.url}", file=sys.stderr)
        else:
            db.drop()


# -- the report ---------------------------------------------------------------------------------


def machine() -> str:
    """``x86_64, Intel(R) Xeon(R) Processor, 2 cores``."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{platform.machine()}, {model}, {os.cpu_count()} cores"


def command_line() -> str:
    """The command as typed, relative to the repository."""
    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(REPO)
    script = Path(sys.argv[0]).resolve()
    with contextlib.suppress(ValueError):
        script = script.relative_to(REPO)
    return shlex.join([str(python), str(script), *sys.argv[1:]])


def report(options: Options, figures: Figures, database: str) -> str:
    """The Markdown table."""
    verdict = figures.verdict
    clean = verdict and not figures.failures
    rows = [
        ("machine", machine()),
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("command", f"`{command_line()}`"),
        (
            "setup",
            f"gunicorn --workers {options.web} (single-threaded) + {options.workers} × "
            f"`flask voicemail work`, {database}, {options.agents} agents "
            + ("pressing take-next" if options.manual else "rung automatically")
            + f", time scale "
            f"{options.time_scale:g}, HOTLINE_AUDIO_STORE={options.audio_store}, "
            + (
                "one data folder for all"
                if options.shared_data_dir
                else "a data folder per process (as on separate machines)"
            )
            + (", every webhook sent twice" if options.replay else ""),
        ),
        *figures.rows,
        (
            "**every call logged, every message transcribed exactly once**",
            "**PASS**" if verdict else "**FAIL**",
        ),
        (
            "all other checks (no 5xx/4xx, no simulator error, nothing doubled, audio readable)",
            "PASS" if clean else "FAIL: " + "; ".join(figures.failures),
        ),
    ]
    lines = ["| | |", "| --- | --- |"]
    lines += [f"| {name} | {value.replace('|', '/')} |" for name, value in rows]
    if figures.notes:
        lines += ["", *[f"- {note}" for note in figures.notes]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the bench; 0 when every check passes (see the module's docstring)."""
    options = parse_options(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    if not SPEECH.is_dir():
        raise SystemExit(f"speech clips not found at {SPEECH}")
    # SIGTERM unwinds like Ctrl-C, so every process the bench started is stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    run_dir = Path(tempfile.mkdtemp(prefix="hotline-bench-e2e-"))
    figures = Figures()
    database = "SQLite" if (options.database or "").startswith("sqlite") else "PostgreSQL"
    try:
        run(options, run_dir, figures)
    finally:
        if figures.rows:
            print(report(options, figures, database))
        passed = figures.verdict and not figures.failures
        if (passed and not options.keep) or not any(run_dir.iterdir()):
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            print(f"\nlogs of every process: {run_dir}", file=sys.stderr)
    if not figures.verdict:
        return 1
    return 2 if figures.failures else 0


if __name__ == "__main__":
    sys.exit(main())
