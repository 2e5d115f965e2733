"""Fault drills: the service under call load while a fault is injected; then nothing may be lost.

    .venv/bin/python bench/drills.py [postgres|web|worker|all] [--seconds 30] [--callers 6]
                                     [--at 0.33] [--calls N] [--database postgresql|sqlite]

The real service runs as the Procfile runs it, on PostgreSQL (database ``drill`` or
``--pg-database``, made afresh; never ``test``) or on a fresh SQLite file: gunicorn with two
processes, one ``flask voicemail work`` process, recordings in the database. With ``--calls N``
the load is N calls (the fault strikes at ``--at`` of them) rather than ``--seconds`` of calling.
The offline Twilio (``ivr.simulator``) places calls from several callers at once:
half browse the menu, half leave a voice message with real Korean speech. At ``--at`` of the way
in (a third by default), the fault strikes:

- ``postgres``: PostgreSQL is restarted (``pg_ctlcluster … restart``; a few seconds down).
- ``web``: a gunicorn worker process is killed with SIGKILL while requests are in flight.
- ``worker``: the transcription worker is killed with SIGKILL mid-message and started again,
  as a process supervisor would.

The simulated Twilio does what Twilio does: on a failed TwiML request it asks the fallback URL;
it sends a failed status callback again (up to 8 times, a second apart, as a callback URL with
connection overrides ``#rc=…&rp=all`` asks). Afterwards the drill checks, from the database:
every call placed is logged with its final status; every recording has exactly one message;
every message's call ended with the outcome ``voicemail`` (the message and the outcome commit
together); every message is transcribed exactly once; no caller met dead air (a failed request
whose fallback failed too). It prints a table and exits non-zero if any check fails.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness import BIN, free_port  # noqa: E402

from ivr.callflow.menu_file import load_menu  # noqa: E402
from ivr.settings import DEFAULT_MENU  # noqa: E402
from ivr.simulator import (  # noqa: E402
    Caller,
    CallResult,
    Hangup,
    HttpTransport,
    Press,
    RecordingServer,
    Simulator,
    Speak,
)
from voicemail.audio import telephone_line  # noqa: E402
from voicemail.transcription import packaged_model_path  # noqa: E402

ACCOUNT_SID = "AC" + "d" * 32
AUTH_TOKEN = "drill-auth-token-0123456789abcdef"
PUBLIC = "https://hotline.example.com"
SERVER = "postgresql://postgres@127.0.0.1:5432"
SPEECH = REPO.parent / "shared" / "speech" / "ko"
CLIPS = ["zeroth_104_003_0294.flac", "emo_pfa00002.wav", "emo_pmc00001.wav"]


def fresh_database(name: str) -> str:
    """Drop and create database ``name``; its SQLAlchemy URL."""
    if name in {"test", "postgres"}:
        raise SystemExit(f"refusing to use database {name!r}")
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


class SlowShop:
    """The shop's order service, slow to answer: web requests that look orders up take a while."""

    def __init__(self, delay: float = 1.5) -> None:
        shop = self
        self.in_flight = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                shop.in_flight += 1
                try:
                    time.sleep(delay)
                    body = json.dumps({"status": "shipped", "carrier": "SF"}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the web process that asked was killed: the drill's point
                finally:
                    shop.in_flight -= 1

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@dataclass
class Service:
    """The web and worker processes of one deployment."""

    env: dict[str, str]
    logs: Path
    port: int = field(default_factory=free_port)
    web: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        out = (self.logs / log_name).open("ab")
        return subprocess.Popen(
            args, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def start(self) -> None:
        subprocess.run(
            [str(BIN / "flask"), "--app", "app", "db", "upgrade"],
            cwd=REPO, env=self.env, check=True, capture_output=True,
        )  # fmt: skip
        self.web = self._spawn(
            [str(BIN / "gunicorn"), "-c", "python:ivr.ops.gunicorn_hooks", "app:app",
             "--bind", f"127.0.0.1:{self.port}", "--workers", "2"],
            "web.log",
        )  # fmt: skip
        self.start_worker()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.base_url + "/healthz", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise SystemExit(f"the web service did not start; see {self.logs / 'web.log'}")

    def start_worker(self) -> None:
        self.workers.append(
            self._spawn([str(BIN / "flask"), "--app", "app", "voicemail", "work"], "worker.log")
        )

    def web_process_asking(self, port: int) -> int | None:
        """The gunicorn worker process with a request open to loopback ``port``, if any."""
        found = subprocess.run(
            ["ss", "-tnpH", "state", "established", "dst", f"127.0.0.1:{port}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        pids = re.findall(r'"gunicorn",pid=(\d+)', found.stdout)
        return int(pids[0]) if pids else None

    def stop(self) -> None:
        for process in [*self.workers, *([self.web] if self.web else [])]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in [*self.workers, *([self.web] if self.web else [])]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@contextmanager
def service(database: str, media: RecordingServer, shop: SlowShop, logs: Path) -> Iterator[Service]:
    env = {
        "ORDER_LOOKUP_URL": f"http://127.0.0.1:{shop.port}/orders/{{number}}",
        "ORDER_LOOKUP_TIMEOUT": "5",
        **os.environ,
        "HOTLINE_ENV": "development",  # http to the loopback Twilio; signatures still checked
        "DATABASE_URL": database,
        "HOTLINE_DATA_DIR": str(logs / "data"),
        "HOTLINE_AUDIO_STORE": "database",
        "HOTLINE_WORKER": "off",
        "HOTLINE_WORKER_LEASE": "15",
        "HOTLINE_WORKER_POLL": "0.2",
        "SECRET_KEY": "drill",
        "PUBLIC_BASE_URL": PUBLIC,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_BASE_URL": media.base_url,
        "VOSK_MODEL_ZH": str(packaged_model_path("ko")),
    }
    running = Service(env, logs)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@dataclass
class Load:
    """Callers calling again and again until told to stop (or ``calls`` calls are placed)."""

    sim: Simulator
    callers: int
    speech: list[bytes]
    calls: int | None = None
    placed: int = 0
    results: list[CallResult] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, done: int) -> None:
        """Until ``done`` calls have ended."""
        while len(self.results) < done:
            time.sleep(0.1)

    def script(self, n: int) -> list[object]:
        if n % 2:
            return [Press("1"), Press("9"), Speak(self.speech[n % len(self.speech)])]
        # English, delivery, an order number (the shop is slow to answer), then hang up.
        return [Press("2"), Press("2"), Press(f"{20260000 + n}#"), Hangup()]

    def caller(self, index: int) -> None:
        for n in itertools.count(index):
            with self.lock:
                if self.stop.is_set() or (self.calls is not None and self.placed >= self.calls):
                    return
                self.placed += 1
            number = f"+86139{index:03d}{n % 100000:05d}"
            result = self.sim.call(Caller(number=number, script=self.script(n)))  # type: ignore[arg-type]
            with self.lock:
                self.results.append(result)

    @contextmanager
    def running(self) -> Iterator[None]:
        threads = [threading.Thread(target=self.caller, args=(i,)) for i in range(self.callers)]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(120)


def inject(fault: str, running: Service, shop: SlowShop) -> str:
    """Strike; a line saying what was done."""
    if fault == "postgres":
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        began = time.monotonic()
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"],
            check=True, capture_output=True,
        )  # fmt: skip
        return f"PostgreSQL {version} restarted ({time.monotonic() - began:.1f} s down)"
    if fault == "web":
        deadline = time.monotonic() + 60
        while (victim := running.web_process_asking(shop.port)) is None:  # strike mid-request
            if time.monotonic() > deadline:
                raise SystemExit("no web request was ever in flight")
            time.sleep(0.02)
        in_flight = shop.in_flight
        os.kill(victim, signal.SIGKILL)
        return f"gunicorn worker {victim} killed with SIGKILL, {in_flight} lookup(s) in flight"
    if fault == "worker":
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # strike while it holds a message
            if count(running.env["DATABASE_URL"], "status = 'transcribing'"):
                break
            time.sleep(0.05)
        victim = running.workers[-1]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        running.start_worker()
        return f"transcription worker {victim.pid} killed with SIGKILL mid-message; restarted"
    raise SystemExit(f"unknown fault {fault!r}")


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
        try:
            return list(conn.execute(sql).fetchall())
        finally:
            conn.close()
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        return list(conn.execute(sql).fetchall())  # type: ignore[arg-type]


def count(url: str, where: str) -> int:
    return int(query(url, f"SELECT count(*) FROM voicemails WHERE {where}")[0][0])  # type: ignore[call-overload]


def recordings_of(results: list[CallResult]) -> set[str]:
    """RecordingSids of recordings that hold speech (Twilio called them completed)."""
    return {
        request.form["RecordingSid"]
        for result in results
        for request in result.requests
        if request.form.get("RecordingStatus") == "completed"
        or (
            request.path.startswith("/voice/voicemail/recorded")
            and request.form.get("RecordingSid")
        )
    }


def fresh_sqlite(folder: Path) -> str:
    """A new, empty SQLite file in ``folder``; its SQLAlchemy URL."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("drill.sqlite*"):
        old.unlink()
    return f"sqlite:///{folder / 'drill.sqlite'}"


def drill(
    fault: str,
    seconds: float,
    at: float,
    callers: int,
    speech: list[bytes],
    logs: Path,
    *,
    calls: int | None = None,
    database: str = "postgresql",
    pg_database: str = "drill",
) -> bool:
    """Run one drill and print its table; whether every check passed."""
    if database == "sqlite" and fault == "postgres":
        raise SystemExit("the postgres drill needs PostgreSQL")
    url = fresh_sqlite(logs / fault / "db") if database == "sqlite" else fresh_database(pg_database)
    media = RecordingServer(ACCOUNT_SID, AUTH_TOKEN)
    shop = SlowShop()
    checks: list[tuple[str, str, bool]] = []
    try:
        with service(url, media, shop, logs / fault) as running:
            sim = Simulator(
                HttpTransport(running.base_url),
                public_base_url=PUBLIC,
                auth_token=AUTH_TOKEN,
                account_sid=ACCOUNT_SID,
                fallback_path="/voice/fallback",
                recording_server=media,
                time_scale=0.05,
                callback_retries=8,
                callback_retry_delay=1.0,
            )
            load = Load(sim, callers, speech, calls)
            with load.running():
                if calls is None:
                    time.sleep(seconds * at)
                    struck = inject(fault, running, shop)
                    time.sleep(seconds * (1 - at))
                else:
                    load.wait_for(int(calls * at))
                    struck = inject(fault, running, shop)
                    load.wait_for(calls)
            deadline = time.monotonic() + 300
            while count(url, "status IN ('pending', 'transcribing')") and (
                time.monotonic() < deadline
            ):
                time.sleep(0.5)
            sim.close()
            results = load.results
            placed = {r.sid for r in results}
            rows = dict(query(url, "SELECT sid, status FROM calls"))  # type: ignore[arg-type]
            recorded = recordings_of(results)
            stored = query(
                url,
                "SELECT recording_sid, count(*), min(status), max(attempts) FROM voicemails "
                "GROUP BY recording_sid",
            )
            by_sid = {row[0]: row for row in stored}
            failed = [
                r for r in results if any(q.status == 0 or q.status >= 500 for q in r.requests)
            ]
            fell_back = [r for r in results if any("fallback URL" in e for e in r.errors)]
            apology = set(load_menu(DEFAULT_MENU).phrases["error"].values())
            apologised = [r for r in results if apology & set(r.said())]
            dead_air = [r for r in results if any("fallback POST" in e for e in r.errors)]
            retried = sum(1 for r in results for w in r.warnings if w.endswith("retrying"))
            lost_calls = placed - set(rows)
            unfinished = [sid for sid in placed & set(rows) if rows[sid] != "completed"]
            lost_messages = recorded - set(by_sid)
            doubled = [row for row in stored if row[1] != 1]
            untranscribed = [row for row in stored if row[2] != "transcribed"]
            # A message kept while its call ended "abandoned": the two committed apart.
            apart = query(
                url,
                "SELECT v.recording_sid FROM voicemails v JOIN calls c ON c.id = v.call_id "
                "WHERE c.outcome IS NULL OR c.outcome IN ('self_service', 'abandoned')",
            )
            twice = query(
                url, "SELECT count(*) FROM voicemails WHERE attempts > 1 AND status = 'transcribed'"
            )[0][0]
            checks = [
                ("calls placed / logged", f"{len(placed)} / {len(placed) - len(lost_calls)}",
                 not lost_calls and len(placed) > 0),
                ("calls without their final status", str(len(unfinished)), not unfinished),
                ("recordings made / messages kept", f"{len(recorded)} / {len(by_sid)}",
                 not lost_messages and len(recorded) > 0),
                ("messages doubled", str(len(doubled)), not doubled),
                ("calls consistent (a message ⇔ outcome voicemail)",
                 f"{len(placed) - len(apart)} / {len(placed)}", not apart),
                ("messages not transcribed", str(len(untranscribed)), not untranscribed),
                ("calls with dead air (fallback failed too)", str(len(dead_air)), not dead_air),
            ]  # fmt: skip
            facts = [
                ("fault", struck),
                ("calls that met a failed request (5xx or dropped)", str(len(failed))),
                ("calls that heard the apology from the fallback URL", str(len(fell_back))),
                ("calls that heard the apology (any webhook)", str(len(apologised))),
                ("status callbacks sent again after a failure", str(retried)),
                ("messages taken over after a failed attempt", str(twice)),
            ]
    finally:
        media.close()
        shop.close()
    print(f"\n### Drill: {fault} ({database})\n")
    print("| check | figure | result |\n|---|---|---|")
    for name, figure in facts:
        print(f"| {name} | {figure} | |")
    for name, figure, ok in checks:
        print(f"| {name} | {figure} | {'PASS' if ok else 'FAIL'} |")
    return all(ok for _, _, ok in checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "fault", nargs="?", default="all", choices=["postgres", "web", "worker", "all"]
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="load time per drill")
    parser.add_argument("--callers", type=int, default=6, help="callers calling at once")
    parser.add_argument("--at", type=float, default=1 / 3, help="when the fault strikes (0–1)")
    parser.add_argument("--calls", type=int, default=None, help="calls to place (not --seconds)")
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--pg-database", default="drill", help="PostgreSQL database to make afresh")
    parser.add_argument("--logs", type=Path, default=Path("/tmp/hotline-drills"))
    args = parser.parse_args()
    speech = [telephone_line((SPEECH / clip).read_bytes()) for clip in CLIPS]
    every = ["worker", "web", "postgres"] if args.database == "postgresql" else ["worker", "web"]
    faults = every if args.fault == "all" else [args.fault]
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor(),
    )  # fmt: skip
    print(f"{time.strftime('%Y-%m-%d %H:%M')} · {platform.machine()} · {cpu} · "
          f"{os.cpu_count()} cores · `{' '.join(sys.argv)}`")  # fmt: skip
    passed = True
    for fault in faults:
        (args.logs / fault).mkdir(parents=True, exist_ok=True)
        passed &= drill(fault, args.seconds, args.at, args.callers, speech, args.logs,
                        calls=args.calls, database=args.database, pg_database=args.pg_database)  # fmt: skip
    print(f"\nlogs: {args.logs}")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
