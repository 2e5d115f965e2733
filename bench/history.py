"""History at scale: the call list, message search and figures over 100 000 calls and messages.

What it measures: the latency of the agents' and API clients' read paths through the real app over
HTTP, on a database holding ``--rows`` calls (100 000 by default) with their call events and
queue entries, and as many voice messages with Chinese (and some English) transcripts, indexed for
search exactly as the worker indexes them. The rows are spread over 90 days and written with bulk
inserts (SQLAlchemy Core executemany); the search terms are ``voicemail.search.index_terms`` of
each transcript, the rows ``index_message`` writes (checked on a sample by running it).

The app is served as the Procfile serves it (gunicorn, without the access log) on a loopback port,
in production mode; a supervisor signs in through /login and an API token is made with
``flask tokens create``, both the app's own ways. Each query is requested one at a time on a
keep-alive connection, many times, after a warm-up:

* the call list: ``GET /api/v1/calls`` (first page, filters, a later page) and the ``/calls`` page,
* the voice messages: ``GET /api/v1/voicemails`` and the ``/inbox`` page, with searches for
  two-character Chinese words (common and rare) and a Latin word,
* figures: the ``/figures`` page and ``GET /api/v1/stats`` for a day, a week and 30 days.

Baseline in the same run: ``GET /api/v1/calls/<sid>`` for random calls, an indexed lookup by
key, which shows the fixed cost of a request through gunicorn, Flask, the token check and the
database on this machine.

Goal: p99 under 50 ms for every query.

Run from the repository root (PostgreSQL: the database is dropped and created again; its name
must start with ``bench_`` and the server must be on loopback)::

    .venv/bin/python bench/history.py [--rows 100000] [--repeat 100]
    .venv/bin/python bench/history.py \
        --database postgresql+psycopg://postgres@127.0.0.1:5432/bench_history
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import random
import re
import secrets
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote, urlencode

from harness import (
    APP_SPEC,
    BIN,
    REPO,
    clean_env,
    code_version,
    cpu_model,
    fresh_database,
    gunicorn,
    log,
)
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

sys.path.insert(0, str(REPO))

from history_rows import DAYS, Filled, check_terms, fill

from ivr.cursors import encode_key
from ivr.database import MAX_ID

PUBLIC_BASE_URL = "https://hotline.example.com"
SUPERVISOR, PASSWORD = "bench-supervisor", "bench-password-0123"
GOAL_P99_MS = 50.0

# -- the server -------------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP connection to the app, with a session cookie and an API token."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}
        self.token = ""

    def request(
        self,
        method: str,
        path: str,
        body: str | None = None,
        *,
        api: bool = False,
        content_type: str = "application/x-www-form-urlencoded",
    ) -> tuple[int, bytes, float]:
        """(status, body, seconds) of one request."""
        headers = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
        if api:
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = content_type
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            reply = self.conn.getresponse()
            data = reply.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            raise
        seconds = time.perf_counter() - started
        for header in reply.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie(header)
            self.cookies.update({k: m.value for k, m in cookie.items()})
        return reply.status, data, seconds

    def sign_in(self, name: str, password: str) -> None:
        """Sign in through the login form, as a browser does."""
        status, page, _ = self.request("GET", "/login")
        found = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page)
        if status != 200 or found is None:
            raise RuntimeError(f"no login form: {status}")
        form = urlencode({"csrf_token": found.group(1).decode(), "name": name,
                          "password": password})  # fmt: skip
        status, _, _ = self.request("POST", "/login", form)
        if status != 302:
            raise RuntimeError(f"signing in answered {status}")


# -- the queries ------------------------------------------------------------------------------


@dataclass
class Query:
    """One request the bench times; ``path`` may hold ``{sid}`` for a random call."""

    group: str
    name: str
    path: str

    @property
    def api(self) -> bool:
        """Whether it goes to the JSON API (with the token) rather than a page (with the cookie)."""
        return self.path.startswith("/api/")


@dataclass
class Timing:
    """The latencies of one query."""

    query: Query
    seconds: list[float]
    items: int
    size: int

    def ms(self, share: float) -> float:
        """A nearest-rank percentile in milliseconds."""
        ordered = sorted(self.seconds)
        return ordered[max(int(share * len(ordered) + 0.999999) - 1, 0)] * 1000


def queries(filled: Filled, first_page_cursor: str, pages: dict[str, str]) -> list[Query]:
    """The reads agents, supervisors and API clients make, and the baseline."""
    today = filled.newest.date()
    day = (today - timedelta(days=1)).isoformat()
    week = (today - timedelta(days=7)).isoformat()
    month = (today - timedelta(days=30)).isoformat()
    number = quote(filled.frequent_number)
    return [
        Query("baseline", "API: one call by CallSid (indexed key)", "/api/v1/calls/{sid}"),
        Query("calls", "API: newest 50", "/api/v1/calls"),
        Query("calls", "API: next page (cursor)", f"/api/v1/calls?cursor={first_page_cursor}"),
        Query("calls", "API: outcome=agent", "/api/v1/calls?outcome=agent"),
        Query("calls", "API: language=en", "/api/v1/calls?language=en"),
        Query("calls", "API: number=<a regular caller>", f"/api/v1/calls?number={number}"),
        Query("calls", "API: since/until (3 weeks)", f"/api/v1/calls?since={month}&until={week}"),
        Query("calls", "page /calls: newest 100", "/calls"),
        Query("calls", "page /calls: one day", f"/calls?date={day}"),
        Query("calls", "page /calls: outcome=agent", "/calls?outcome=agent"),
        Query("calls", "page /calls: number contains 13800", "/calls?number=13800"),
        Query("calls", "page /calls: topic=payment", "/calls?topic=payment"),
        Query("calls", "page /calls: agent=agent07", "/calls?agent=agent07"),
        Query("calls", "page /calls: next page (cursor)", pages["calls"]),
        Query("calls", "page /calls: 60 days back (cursor)", pages["calls_deep"]),
        Query("calls", "page /calls: oldest first", "/calls?sort=oldest"),
        Query("messages", "API: newest 50 messages", "/api/v1/voicemails"),
        Query("messages", "API: status=failed", "/api/v1/voicemails?status=failed"),
        Query("messages", "page /inbox: newest 50", "/inbox"),
        Query("messages", "page /inbox: state=new", "/inbox?state=new"),
        Query("messages", "page /inbox: overdue, most overdue first", "/inbox?overdue=1"),
        Query("messages", "page /inbox: next page (cursor)", pages["inbox"]),
        Query("messages", "page /inbox: 60 days back (cursor)", pages["inbox_deep"]),
        Query("search", "page /inbox: q=138001 (part of a number)", "/inbox?q=138001"),
        Query("search", "page /inbox: q=123456 (part of a case number)", "/inbox?q=123456"),
        Query("search", "page /inbox: q=订单 (common)", "/inbox?q=" + quote("订单")),
        Query("search", "page /inbox: q=退款", "/inbox?q=" + quote("退款")),
        Query("search", "page /inbox: q=发票 (rare)", "/inbox?q=" + quote("发票")),
        Query("search", "page /inbox: q=快递, state=new", "/inbox?state=new&q=" + quote("快递")),
        Query("search", "page /inbox: q=保险 (no match)", "/inbox?q=" + quote("保险")),
        Query("search", "page /inbox: q=iphone (Latin)", "/inbox?q=iphone"),
        Query("figures", "page /figures: one day", f"/figures?from={day}&to={day}"),
        Query("figures", "page /figures: 7 days", f"/figures?from={week}&to={day}"),
        Query("figures", "page /figures: 30 days", f"/figures?from={month}&to={day}"),
        Query("figures", "API /stats: one day", f"/api/v1/stats?from={day}&to={day}"),
        Query("figures", "API /stats: 7 days", f"/api/v1/stats?from={week}&to={day}"),
        Query("figures", "API /stats: 30 days", f"/api/v1/stats?from={month}&to={day}"),
    ]


def page_links(client: Client, filled: Filled) -> dict[str, str]:
    """The pages' second pages (their "next page" links) and pages 60 days back (cursors made
    as the pages make them)."""
    links = {}
    for name, path in (("calls", "/calls"), ("inbox", "/inbox")):
        _, page, _ = client.request("GET", path)
        found = re.search(rb'<a id="older" href="([^"]+)"', page)
        links[name] = found.group(1).decode().replace("&amp;", "&") if found else path
        deep = encode_key(("newest", filled.newest - timedelta(days=60), MAX_ID))
        links[f"{name}_deep"] = f"{path}?after={deep}"
    return links


def count_items(query: Query, body: bytes) -> int:
    """How many calls or messages an answer lists (-1: not a list)."""
    if query.group not in ("calls", "messages", "search"):
        return -1
    if query.api:
        return body.count(b'"sid":') or body.count(b'"case_number":')
    return body.count(b"<tr data-sid=") + body.count(b'" data-id="')


def time_query(
    client: Client, query: Query, sids: list[str], repeat: int, budget: float, rng: random.Random
) -> Timing:
    """Request ``query`` ``repeat`` times (fewer if they exceed ``budget`` seconds)."""
    seconds: list[float] = []
    items = size = 0
    for _ in range(3):  # warm-up: caches, compiled statements, the connection pool
        client.request("GET", query.path.format(sid=rng.choice(sids)), api=query.api)
    spent = time.perf_counter()
    for n in range(repeat):
        status, body, took = client.request(
            "GET", query.path.format(sid=rng.choice(sids)), api=query.api
        )
        if status != 200:
            raise RuntimeError(f"{query.path} answered {status}: {body[:300]!r}")
        seconds.append(took)
        items, size = count_items(query, body), len(body)
        if n >= 19 and time.perf_counter() - spent > budget:
            break
    return Timing(query, seconds, items, size)


# -- the report -------------------------------------------------------------------------------


def report(
    args: argparse.Namespace,
    *,
    database: str,
    filled: Filled,
    timings: list[Timing],
    command: list[str],
    load_before: str,
) -> str:
    """The Markdown results."""
    cores = os.cpu_count() or 1
    base = next(t for t in timings if t.query.group == "baseline")
    served = shlex.join(command).replace(str(BIN) + "/", ".venv/bin/")
    lines = [
        f"## History at scale: {filled.calls} calls, {filled.messages} messages ({database})",
        "",
        "| | |",
        "| --- | --- |",
        f"| machine | `{platform.machine()}`, {cpu_model()}, {cores} cores (shared with the "
        "database and anything else running) |",
        f"| load average before | {load_before} |",
        f"| date | {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} |",
        f"| command | `{shlex.join(sys.orig_argv)}` |",
        f"| code | {code_version()} |",
        f"| server | `{served}` (the Procfile's web command; no access log), "
        "HOTLINE_ENV=production, HOTLINE_WORKER=off |",
        f"| database | {database} |",
        f"| data | {filled.calls} calls over {DAYS} days, {filled.events} call events, "
        f"{filled.entries} queue entries, {filled.messages} messages (80 % Chinese), "
        f"{filled.terms} search terms; bulk-written in {filled.seconds:.0f} s |",
        "| statistics | PostgreSQL: VACUUM ANALYZE after the fill, as autovacuum would do; "
        "SQLite: none (the app never runs ANALYZE) |",
        f"| method | one request at a time on a keep-alive connection, after 3 warm-up requests; "
        f"up to {args.repeat} timed requests per query (fewer once one query has taken "
        f"{args.budget:.0f} s, at least 20); latency as the client sees it |",
        "",
        "| group | query | n | p50 ms | p99 ms | p50 − baseline p50 | listed | bytes "
        "| p99 / goal | result |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for t in timings:
        p50, p99 = t.ms(0.5), t.ms(0.99)
        extra = "–" if t is base else f"{p50 - base.ms(0.5):+.1f}"
        listed = "–" if t.items < 0 else str(t.items)
        ok = "PASS" if p99 < GOAL_P99_MS else "FAIL"
        lines.append(
            f"| {t.query.group} | {t.query.name} | {len(t.seconds)} | {p50:.1f} | {p99:.1f} "
            f"| {extra} | {listed} | {t.size} | {p99 / GOAL_P99_MS:.2f} | {ok} |"
        )
    failed = [t for t in timings if t.ms(0.99) >= GOAL_P99_MS]
    lines += [
        "",
        f"Goal: p99 < {GOAL_P99_MS:.0f} ms for every query: "
        + ("PASS" if not failed else f"FAIL ({len(failed)} of {len(timings)} queries miss it)"),
    ]
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------


def flask_cli(env: dict[str, str], *arguments: str) -> str:
    """Run ``flask --app app …`` with the bench's environment; its output."""
    done = subprocess.run([str(BIN / "flask"), "--app", "app", *arguments], cwd=REPO, env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(arguments)} failed: {done.stdout}{done.stderr}")
    return done.stdout


def main() -> None:
    """Fill the database, serve the app, time every query, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database", default="sqlite", help="sqlite (default) or a PostgreSQL URL")
    parser.add_argument("--rows", type=int, default=100_000, help="calls, and as many messages")
    parser.add_argument("--repeat", type=int, default=100, help="timed requests per query")
    parser.add_argument("--budget", type=float, default=15.0, help="seconds per query at most")
    args = parser.parse_args()
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    rng = random.Random(11)

    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp_name:
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
            TWILIO_ACCOUNT_SID="AC" + "be" * 16,
            TWILIO_AUTH_TOKEN=secrets.token_hex(16),
            PUBLIC_BASE_URL=PUBLIC_BASE_URL,
            SECRET_KEY=secrets.token_hex(32),
            HOTLINE_WORKER="off",
            PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics"),
        )
        log(f"migrating {database}")
        flask_cli(env, "db", "upgrade")
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        log(f"writing {args.rows} calls and {args.rows} messages")
        filled = fill(engine, args.rows)
        check_terms(engine)
        engine.dispose()
        flask_cli(env, "agents", "create", SUPERVISOR, "--password", PASSWORD, "--admin")
        token = flask_cli(env, "tokens", "create", "bench-history").strip().splitlines()[-1]

        with gunicorn(APP_SPEC, env, tmp / "app.log") as server:
            port, command = server.port, server.command
            client = Client(port)
            client.token = token
            client.sign_in(SUPERVISOR, PASSWORD)
            _, first_page, _ = client.request("GET", "/api/v1/calls", api=True)
            cursor = re.search(rb'"next_cursor":\s*"([^"]+)"', first_page)
            pages = page_links(client, filled)
            timings = []
            for query in queries(filled, cursor.group(1).decode() if cursor else "", pages):
                log(f"timing {query.name}")
                timings.append(
                    time_query(client, query, filled.sids, args.repeat, args.budget, rng)
                )
        print(
            report(
                args,
                database=database,
                filled=filled,
                timings=timings,
                command=command,
                load_before=load_before,
            )
        )


if __name__ == "__main__":
    main()
