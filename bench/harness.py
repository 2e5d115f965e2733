"""What the benchmarks share: loopback ports, a clean environment, benchmark databases, the
server as the Procfile runs it, the machine and the code measured. Each benchmark stays one
command; this is imported beside it."""

from __future__ import annotations

import http.client
import os
import platform
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
APP_SPEC = "app:app"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any hotline settings of the caller's, plus ``extra``."""
    drop = ("HOTLINE_", "TWILIO_", "DATABASE_URL", "ORDER_LOOKUP_", "VOSK_", "PUBLIC_BASE_URL",
            "PROMETHEUS_MULTIPROC_DIR", "WEB_CONCURRENCY", "PORT")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


def fresh_database(url: str) -> None:
    """Drop and create a PostgreSQL benchmark database (loopback, named bench_… only)."""
    parsed = make_url(url)
    if parsed.host not in LOOPBACK_HOSTS:
        raise SystemExit(f"refusing a database that is not on loopback: {parsed.host}")
    name = parsed.database or ""
    if not name.startswith("bench_"):
        raise SystemExit(f"refusing to drop {name!r}: benchmark databases are named bench_…")
    engine = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def code_version() -> str:
    """The commit measured, and whether the working tree differed from it."""
    git = ["git", "-C", str(REPO)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], text=True,
                          capture_output=True, check=False).stdout.strip()  # fmt: skip
    changed = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], text=True,
                             capture_output=True, check=False).stdout  # fmt: skip
    count = len(changed.splitlines())
    return (head or "unknown") + (f" + uncommitted changes in {count} files" if count else "")


def log(message: str) -> None:
    """Progress, on stderr (the table goes to stdout)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- the server as the Procfile runs it -------------------------------------------------------


@dataclass
class Server:
    """A gunicorn started by this bench."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    command: list[str] = field(default_factory=list)

    def cpu_seconds(self) -> float:
        """CPU time of the master and its workers so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in [self.process.pid, *children(self.process.pid)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / ticks


def children(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def gunicorn_workers() -> int:
    """How many web processes the Procfile's gunicorn settings start on this machine."""
    os.environ.pop("WEB_CONCURRENCY", None)  # as clean_env() leaves it for the servers
    sys.path.insert(0, str(REPO))
    from ivr.ops import gunicorn_hooks

    return int(gunicorn_hooks.workers)


def procfile_command(port: int, app_spec: str = APP_SPEC) -> list[str]:
    """The Procfile's web command serving ``app_spec`` on a loopback port, without the access log.

    ``${VAR:-default}`` takes its default; ``--bind`` and ``--access-logfile`` are replaced.
    """
    line = next(
        x for x in (REPO / "Procfile").read_text().splitlines() if x.startswith("web:")
    ).removeprefix("web:")
    words = shlex.split(re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", line))
    if APP_SPEC not in words:
        raise SystemExit(f"the Procfile's web command does not serve {APP_SPEC}: {line}")
    command: list[str] = []
    skip = False
    for i, word in enumerate(words):
        if skip:
            skip = False
        elif word in ("--access-logfile", "--bind", "-b"):
            skip = True
        elif not word.startswith(("--access-logfile=", "--bind=")):
            command.append(str(BIN / word) if i == 0 else app_spec if word == APP_SPEC else word)
    return [*command, "--bind", f"127.0.0.1:{port}"]


def _children_ticks(pid: int) -> tuple[int, int]:
    """How many processes ``pid`` has, and the CPU ticks they have used."""
    count = ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:  # ppid
            count += 1
            ticks += int(fields[11]) + int(fields[12])  # utime + stime
    return count, ticks


def settle(pid: int, wanted: int, timeout: float = 60.0) -> None:
    """Wait until every web process has loaded the app: the first answers while the others
    still import it, which would take the cores from the first requests timed."""
    deadline = time.monotonic() + timeout
    before = _children_ticks(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _children_ticks(pid)
        if now[0] >= wanted and now[1] - before[1] <= 1:
            return
        before = now


@contextmanager
def gunicorn(app_spec: str, env: dict[str, str], log: Path, *extra: str) -> Iterator[Server]:
    """Serve ``app_spec`` as the Procfile serves the app, on a loopback port."""
    port = free_port()
    command = [*procfile_command(port, app_spec), *extra]
    with open(log, "ab") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, port, log, command)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {log.read_text()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer: {log.read_text()[-3000:]}")
            time.sleep(0.2)
        flags = list(extra)
        wanted = (int(flags[flags.index("--workers") + 1]) if "--workers" in flags
                  else gunicorn_workers())  # fmt: skip
        settle(process.pid, wanted)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
