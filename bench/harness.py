"""What the benchmarks share: loopback ports, a clean environment, benchmark databases, the
machine and the code measured. Each benchmark stays one command; this is imported beside it."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
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
