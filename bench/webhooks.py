"""Webhook throughput: hotline's signed Twilio webhooks under gunicorn vs a minimal Flask app.

What it measures: requests per second and p50/p99 latency of the real app, served exactly as the
Procfile serves it (its ``web:`` command, read at run time: gunicorn with the settings of
``ivr/ops/gunicorn_hooks.py``, 2 × cores + 1 single-threaded processes), bound to a loopback port and *without* the access log, in production mode with
signature checks on, a fresh data folder and a freshly migrated database (and 1000 orders imported
with ``flask orders import``). ``wrk -t2 -c<connections> -d<seconds> --latency`` replays a pool
of distinct requests, each one signed as Twilio signs it, in the shape of real calls:

* ``POST /voice/incoming`` with a new CallSid for every call,
* key presses (or silence) posted to the action URLs the app's own TwiML returns — read from real
  answers of the running app before the load starts, then signed per call,
* ``POST /voice/voicemail/recorded`` for the calls that leave a message,
* ``POST /voice/status`` with ``completed`` and a duration at the end of every call.

The requests of one call are spaced in the pool so that a call's next webhook is sent only after
its previous one has been answered, as Twilio does. Every response status is counted by wrk's Lua
``response`` hook; the app must answer every one with a 2xx.

Baseline, in the same run: a minimal Flask app (``create_baseline`` below) served by the same
gunicorn command, answering every request with static TwiML of the byte size of the app's median
TwiML answer, loaded with the same requests. It shows what gunicorn, Flask and wrk cost on this
machine before the app does anything.

Goals: app requests/s at least 0.5 x the baseline's; app p99 latency under 25 ms; no non-2xx.
wrk and the server share the machine's cores; the table shows how the CPU time was split.

Run from the repository root (PostgreSQL: the database is dropped and created again; its name
must start with ``bench_`` and the server must be on loopback)::

    .venv/bin/python bench/webhooks.py [--seconds 30] [--connections 32]
    .venv/bin/python bench/webhooks.py \
        --database postgresql+psycopg://postgres@127.0.0.1:5432/bench_webhooks
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, Response, request
from harness import (
    APP_SPEC,
    BIN,
    REPO,
    Server,
    clean_env,
    fresh_database,
    gunicorn,
    log,
)
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    text,
)
from sqlalchemy.engine import make_url
from twilio.request_validator import RequestValidator
from webhook_calls import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    LUA,
    PUBLIC_BASE_URL,
    discover,
    write_orders,
    write_pool,
)
from webhooks_report import WARMUP_SECONDS, Load, report

# Requests per second the pool is sized for; beyond it wrk starts the pool again and the repeats
# take the app's retry path (no new rows), which the table reports.
POOL_RATE = 1500


# -- the baseline -----------------------------------------------------------------------------


def bench_app(name: str) -> tuple[Flask, bytes]:
    """A Flask app with the health check the harness waits for, and the static TwiML to answer.

    The TwiML is BENCH_BASELINE_BYTES long: the app's median answer, measured before.
    """
    app = Flask(name)
    app.add_url_rule("/healthz", "healthz", lambda: Response("ok\n", mimetype="text/plain"))
    return app, static_twiml(int(os.environ.get("BENCH_BASELINE_BYTES", "400")))


def create_baseline() -> Flask:
    """The baseline app: the static TwiML for every POST."""
    app, body = bench_app("baseline")

    @app.post("/<path:path>")
    def answer(path: str) -> Response:
        return Response(body, mimetype="text/xml")

    return app


FLOOR = Table(
    "bench_floor",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("call_sid", String(34), nullable=False),
    Column("path", String(256), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)


def create_floor() -> Flask:
    """The floor: what any durable webhook costs before it does anything of its own.

    It parses the form, checks X-Twilio-Signature, commits one row to the same database with the
    app's own connection settings (``ivr.database``: WAL and synchronous=NORMAL on SQLite) and
    answers with the baseline's static TwiML.
    """
    import ivr.database  # noqa: F401  (the app's SQLite pragmas, for the same commit cost)

    app, body = bench_app("floor")
    validator = RequestValidator(AUTH_TOKEN)
    url = os.environ["DATABASE_URL"]
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    add = insert(FLOOR)

    @app.post("/<path:path>")
    def answer(path: str) -> Response:
        query = request.query_string.decode("latin-1")
        signed = PUBLIC_BASE_URL + request.path + (f"?{query}" if query else "")
        given = request.headers.get("X-Twilio-Signature", "")
        if validator.compute_signature(signed, request.form.to_dict()) != given:
            return Response("bad signature\n", status=403, mimetype="text/plain")
        with engine.begin() as conn:
            conn.execute(
                add,
                {
                    "call_sid": request.form["CallSid"],
                    "path": request.path,
                    "at": datetime.now(UTC),
                },
            )
        return Response(body, mimetype="text/xml")

    return app


def static_twiml(size: int) -> bytes:
    """A TwiML document of exactly ``size`` bytes (at least that of an empty one)."""
    head = b'<?xml version="1.0" encoding="UTF-8"?><Response><Say>'
    tail = b"</Say></Response>"
    return head + b"x" * max(size - len(head) - len(tail), 0) + tail


# -- servers and load -------------------------------------------------------------------------


def busy_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def run_wrk(
    server: Server, script: Path, pool: Path, seconds: int, connections: int, threads: int
) -> Load:
    """Load ``server`` with wrk for ``seconds``."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{server.port}",
        "--",
        str(pool),
    ]
    before_server = server.cpu_seconds()
    before_wrk = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0, total0 = busy_ticks()
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    busy1, total1 = busy_ticks()
    after_wrk = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stdout}\n{done.stderr}")
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {done.stdout}\n{done.stderr}")
    cores = os.cpu_count() or 1
    return Load(
        result=json.loads(line.removeprefix("BENCH_JSON ")),
        command=command,
        server_cpu=server.cpu_seconds() - before_server,
        wrk_cpu=(after_wrk.ru_utime + after_wrk.ru_stime)
        - (before_wrk.ru_utime + before_wrk.ru_stime),
        machine_busy=(busy1 - busy0) / max(total1 - total0, 1) * wall * cores,
        wall=wall,
    )


# -- the database -----------------------------------------------------------------------------


def database_rows(url: str) -> dict[str, int]:
    """How many calls, events and messages the run left in the database."""
    engine = create_engine(url)
    with engine.connect() as conn:
        counts = {
            table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in ("calls", "call_events", "voicemails")
        }
    engine.dispose()
    return counts


# -- main -------------------------------------------------------------------------------------


def load_server(
    spec: str, name: str, env: dict[str, str], tmp: Path, script: Path, args: argparse.Namespace
) -> Load:
    """Serve one of this file's apps with the Procfile's gunicorn command and load it."""
    log_path = tmp / f"{spec.split(':')[1].strip('()')}.log"
    with gunicorn(spec, env, log_path, "--pythonpath", str(REPO / "bench")) as server:
        log(f"warming up {name}")
        run_wrk(server, script, tmp / "warm", WARMUP_SECONDS, args.connections, args.threads)
        log(f"loading {name} for {args.seconds} s")
        load = run_wrk(server, script, tmp / "pool", args.seconds, args.connections, args.threads)
    if load.non_2xx:
        log(f"{name}'s log (tail):\n" + log_path.read_text()[-4000:])
    return load


def main() -> None:
    """Run both servers under the same load and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database", default="sqlite", help="sqlite (default) or a PostgreSQL URL")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the floor server (signature + one commit)"
    )
    args = parser.parse_args()
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])

    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp_name:
        tmp = Path(tmp_name)
        data_dir = tmp / "data"
        if args.database == "sqlite":
            url = f"sqlite:///{data_dir / 'hotline.sqlite'}"
            database = "SQLite (WAL, fresh file)"
        else:
            url = args.database
            fresh_database(url)
            database = f"PostgreSQL `{make_url(url).render_as_string(hide_password=True)}`"
        env = clean_env(
            HOTLINE_ENV="production",
            HOTLINE_DATA_DIR=str(data_dir),
            DATABASE_URL=url,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            PUBLIC_BASE_URL=PUBLIC_BASE_URL,
            SECRET_KEY=secrets.token_hex(32),
            HOTLINE_WORKER="off",
            PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics"),
        )
        log(f"migrating {database}")
        subprocess.run(
            [str(BIN / "flask"), "--app", "app", "db", "upgrade"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )
        csv_path = write_orders(tmp / "orders.csv")
        subprocess.run(
            [str(BIN / "flask"), "--app", "app", "orders", "import", str(csv_path)],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )

        script = tmp / "replay.lua"
        script.write_text(LUA)
        spacing = max(3 * args.connections // args.threads, 8)
        with gunicorn(APP_SPEC, env, tmp / "app.log") as app_server:
            log(f"hotline on 127.0.0.1:{app_server.port}; reading the action URLs from its TwiML")
            discovered = discover(app_server.port)
            twiml_sizes = [
                size
                for d in discovered
                for size in d.body_sizes
                for _ in range(d.scenario.weight)
                if size
            ]
            baseline_bytes = int(statistics.median(twiml_sizes))
            pool_requests = args.seconds * POOL_RATE
            log(f"signing {pool_requests} requests")
            pool_calls = write_pool(
                tmp / "pool", discovered, pool_requests, args.threads, spacing, seed=1
            )
            write_pool(
                tmp / "warm", discovered, WARMUP_SECONDS * POOL_RATE, args.threads, spacing, seed=2
            )
            log("warming up hotline")
            run_wrk(
                app_server, script, tmp / "warm", WARMUP_SECONDS, args.connections, args.threads
            )
            log(f"loading hotline for {args.seconds} s")
            app_load = run_wrk(
                app_server, script, tmp / "pool", args.seconds, args.connections, args.threads
            )
            app_command = app_server.command
        rows = database_rows(url)

        baseline_env = clean_env(
            BENCH_BASELINE_BYTES=str(baseline_bytes),
            PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics-baseline"),
        )
        base_load = load_server(
            "webhooks:create_baseline()", "the baseline", baseline_env, tmp, script, args
        )
        floor_load = None
        if not args.no_floor:
            engine = create_engine(url)
            FLOOR.metadata.create_all(engine)
            engine.dispose()
            floor_load = load_server(
                "webhooks:create_floor()",
                "the floor",
                baseline_env | {"DATABASE_URL": url, "HOTLINE_DATA_DIR": str(data_dir)},
                tmp,
                script,
                args,
            )

        if app_load.non_2xx or app_load.result["errors"]["timeout"]:
            log("hotline's log (tail):\n" + (tmp / "app.log").read_text()[-4000:])
        print(
            report(
                args,
                database=database,
                baseline=base_load,
                app=app_load,
                floor=floor_load,
                baseline_bytes=baseline_bytes,
                discovered=discovered,
                pool_calls=pool_calls,
                pool_requests=pool_requests,
                rows=rows,
                load_before=load_before,
                app_command=app_command,
            )
        )


if __name__ == "__main__":
    main()
