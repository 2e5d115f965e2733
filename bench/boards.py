"""Webhooks beside live boards: do Twilio's webhooks queue behind agents' browsers?

What it measures: the latency of signed Twilio webhooks sent at a steady rate to the real app,
served exactly as the Procfile serves it (gunicorn with ``ivr/ops/gunicorn_hooks.py``: 2 × cores
+ 1 single-threaded processes, production mode, signatures checked), first alone, then while
``--boards`` signed-in agents keep their board open — each board asks ``/board/live.json`` once
a second with the ETag of its last answer, as ``static/board.js`` does.

The webhooks are whole calls, as Twilio sends them, one new connection per request: the call
comes in, presses 1 (中文) and 1 (product questions), is put in the product queue (its wait URL
is asked once), waits ``--hold`` seconds and hangs up (the status callback). Every caller who
comes or goes changes what every board shows, so at a few calls a second nearly every poll
renders a new state: the worst case for the boards, not the 304s of a quiet hour.

The boards run in a process of their own so that the client's own threads do not slow the
webhooks' clock. Goal: the webhooks' p99 with the boards stays within 10 ms of their p99
without them, and every board poll is answered within a second.

Beside the boards it also measures how soon a change reaches them (the issue: "updates reach the
browser within about a second"): every ``--probe-every`` seconds a probe caller enters the
payment queue, which nobody else uses, and hangs up ``--probe-hold`` seconds later. The delay
is from the moment its wait URL (the webhook that puts it in line) is sent until each board's
first poll answer showing payment-zh with a caller waiting, one figure per probe and board.
Both processes read the same clock (``time.monotonic``, system-wide on Linux).

Run from the repository root (PostgreSQL: the database is dropped and created again; its name
must start with ``bench_`` and the server must be on loopback)::

    .venv/bin/python bench/boards.py [--boards 50] [--calls-per-second 4] [--seconds 30]
    .venv/bin/python bench/boards.py \
        --database postgresql+psycopg://postgres@127.0.0.1:5432/bench_boards
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import secrets
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from harness import (
    APP_SPEC,
    BIN,
    REPO,
    Server,
    clean_env,
    code_version,
    cpu_model,
    fresh_database,
    gunicorn,
    log,
)
from sqlalchemy.engine import make_url
from twilio.request_validator import RequestValidator
from webhook_calls import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE_URL, path_of, twilio_params

PASSWORD = "bench-board-password"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
WARMUP_SECONDS = 5
PROBE_QUEUE = "payment-zh"  # nobody else's: the probe callers' arrivals are the only changes


# -- webhooks ---------------------------------------------------------------------------------


def post(port: int, path: str, params: dict[str, str]) -> tuple[float, int, bytes]:
    """One signed webhook on a new connection, as Twilio sends it: (seconds, status, body)."""
    body = urlencode(params)
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE_URL + path, params)
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Twilio-Signature": signature, "Host": "hotline.example.com"}  # fmt: skip
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body, headers)
        reply = conn.getresponse()
        data = reply.read()
    finally:
        conn.close()
    return time.perf_counter() - started, reply.status, data


def action(twiml: bytes, verb: str, attribute: str) -> str:
    """The path of the first ``verb``'s ``attribute`` URL in a TwiML answer."""
    found = ET.fromstring(twiml).find(f".//{verb}")
    if found is None or not found.get(attribute):
        raise RuntimeError(f"no {verb} {attribute} in {twiml[:300]!r}")
    return path_of(found.get(attribute, ""))


@dataclass
class Webhooks:
    """Latencies (seconds) of the webhooks sent, and the statuses answered."""

    seconds: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, status: int) -> None:
        with self.lock:
            self.seconds.append(seconds)
            self.statuses[status] += 1


def one_call(port: int, n: int, hold: float, seen: Webhooks) -> None:
    """A caller who chooses Chinese, then product questions, waits ``hold`` s and hangs up."""
    try:
        call_steps(port, n, hold, seen)
    except (OSError, RuntimeError, ET.ParseError) as exc:
        log(f"call {n} failed: {exc!r}")
        seen.add(0.0, 0)  # counted as status 0


def call_steps(port: int, n: int, hold: float, seen: Webhooks) -> None:
    """The webhooks of one call, each timed."""
    sid = f"CA{secrets.token_hex(16)}"
    params = twilio_params(sid, f"+8613{n:09d}", "CN", "ringing")
    took, status, twiml = post(port, "/voice/incoming", params)
    seen.add(took, status)
    in_call = params | {"CallStatus": "in-progress"}
    for digits in ("1", "1"):
        took, status, twiml = post(port, action(twiml, "Gather", "action"),
                                   in_call | {"Digits": digits})  # fmt: skip
        seen.add(took, status)
    queue = {"QueueSid": "QU" + "0" * 32, "QueuePosition": "1", "QueueTime": "0",
             "CurrentQueueSize": "1", "AvgQueueTime": "0"}  # fmt: skip
    took, status, _ = post(port, action(twiml, "Enqueue", "waitUrl"), in_call | queue)
    seen.add(took, status)
    time.sleep(hold)
    done = params | {"CallStatus": "completed", "CallDuration": "40", "Duration": "1"}
    took, status, _ = post(port, "/voice/status", done)
    seen.add(took, status)


@dataclass
class Probe:
    """A caller whose arrival the boards must show: when its wait URL was sent, and when its
    hang-up had been answered (the boards no longer show it after that)."""

    sent: float
    gone: float = float("inf")


def send_probes(port: int, every: float, hold: float, stop: float, probes: list[Probe]) -> None:
    """Until ``stop``: a payment caller every ``every`` s, in line for ``hold`` s, one at a time."""
    n = 0
    while time.monotonic() + every < stop:
        next_at = time.monotonic() + every
        sid = f"CA{secrets.token_hex(16)}"
        params = twilio_params(sid, f"+8615{n:09d}", "CN", "ringing")
        _, _, twiml = post(port, "/voice/incoming", params)
        in_call = params | {"CallStatus": "in-progress"}
        for digits in ("1", "3"):  # 中文, payment
            _, _, twiml = post(
                port, action(twiml, "Gather", "action"), in_call | {"Digits": digits}
            )
        queue = {"QueueSid": "QU" + "1" * 32, "QueuePosition": "1", "QueueTime": "0",
                 "CurrentQueueSize": "1", "AvgQueueTime": "0"}  # fmt: skip
        probe = Probe(sent=time.monotonic())
        post(port, action(twiml, "Enqueue", "waitUrl"), in_call | queue)
        time.sleep(hold)
        done = params | {"CallStatus": "completed", "CallDuration": "10", "Duration": "1"}
        post(port, "/voice/status", done)
        probe.gone = time.monotonic()
        probes.append(probe)
        n += 1
        time.sleep(max(0.0, next_at - time.monotonic()))


def send_calls(port: int, rate: float, seconds: float, first: int, hold: float,
               seen: Webhooks) -> None:  # fmt: skip
    """Start ``rate`` calls a second for ``seconds`` (each on its own thread, as they come)."""
    threads = []
    started = time.monotonic()
    for n in range(int(rate * seconds)):
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        thread = threading.Thread(target=one_call, args=(port, first + n, hold, seen))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()


# -- boards -----------------------------------------------------------------------------------


def request(port: int, method: str, path: str, cookie: str, body: str = "",
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    """One browser request on a new connection: (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        sent = {"Cookie": cookie, "Accept-Language": "zh", **(headers or {})}
        if body:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body or None, sent)
        reply = conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        conn.close()


def cookie_of(headers: dict[str, str], old: str) -> str:
    """The session cookie a reply set (name=value), or the old one."""
    found = re.match(r"([^=;]+=[^;]*)", headers.get("set-cookie", ""))
    return found.group(1) if found else old


def sign_in(port: int, name: str) -> str:
    """Sign ``name`` in through the form; the session cookie."""
    _, headers, page = request(port, "GET", "/login", "")
    cookie = cookie_of(headers, "")
    token = CSRF.search(page.decode())
    if token is None:
        raise RuntimeError("no CSRF token on /login")
    form = urlencode({"name": name, "password": PASSWORD, "csrf_token": token.group(1)})
    status, headers, _ = request(port, "POST", "/login", cookie, form)
    if status != 302:
        raise RuntimeError(f"{name} could not sign in: {status}")
    return cookie_of(headers, cookie)


def keep_board(port: int, cookie: str, stop: float, phase: float, out: list[tuple[float, int]],
               shown: list[tuple[float, float, bool]]) -> None:  # fmt: skip
    """Poll /board/live.json once a second with the last ETag, as board.js does, until ``stop``;
    ``shown``: each poll's start and answer (``time.monotonic``) and whether the board then
    showed a caller waiting in payment-zh (a 304 shows what the last answer did)."""
    tag = ""
    waiting = False
    tick = time.monotonic() + phase
    while tick < stop:
        time.sleep(max(0.0, tick - time.monotonic()))
        started = time.monotonic()
        status, headers, body = request(port, "GET", "/board/live.json", cookie,
                                        headers={"If-None-Match": tag} if tag else {})  # fmt: skip
        answered = time.monotonic()
        out.append((answered - started, status))
        if status == 200:
            rows = json.loads(body)["queues"]
            waiting = any(r["queue"] == PROBE_QUEUE and r["waiting"] > 0 for r in rows)
        shown.append((started, answered, waiting))
        tag = headers.get("etag", tag)
        tick += 1.0


def run_boards(port: int, names: list[str], seconds: float, ready: multiprocessing.Event,
               go: multiprocessing.Event, results: multiprocessing.Queue) -> None:  # fmt: skip
    """The boards' process: sign everyone in, wait for the start, poll for ``seconds``."""
    cookies = [sign_in(port, name) for name in names]
    ready.set()
    go.wait()
    stop = time.monotonic() + seconds
    polls: list[list[tuple[float, int]]] = [[] for _ in cookies]
    shown: list[list[tuple[float, float, bool]]] = [[] for _ in cookies]
    threads = [
        threading.Thread(
            target=keep_board, args=(port, c, stop, i / len(cookies), polls[i], shown[i])
        )
        for i, c in enumerate(cookies)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    used = os.times()
    results.put(([p for board in polls for p in board], used.user + used.system, shown))


# -- the run ----------------------------------------------------------------------------------


def ms(values: list[float], share: float) -> float:
    """The nearest-rank percentile of ``values`` (seconds), in ms."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))] * 1000


def create_agents(env: dict[str, str], count: int) -> list[str]:
    """``count`` available agents for Chinese product and payment questions (the probe callers'
    queue), made in one process; with no phone, so nobody is rung."""
    names = [f"board{n:03d}" for n in range(count)]
    script = (
        "import sys\n"
        "from app import create_app\n"
        "from ivr.database import db\n"
        "from ivr.models import Presence\n"
        "from ivr.queues.agents import create_agent, set_presence\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    for name in sys.argv[2:]:\n"
        "        agent = create_agent(db.session, name, password=sys.argv[1],\n"
        "                             languages=['zh'], topics=['product', 'payment'])\n"
        "        set_presence(agent, Presence.AVAILABLE)\n"
        "    db.session.commit()\n"
    )
    subprocess.run([str(BIN / "python"), "-c", script, PASSWORD, *names], cwd=REPO, env=env,
                   check=True, capture_output=True)  # fmt: skip
    return names


def board_delays(probes: list[Probe], boards: list[list[tuple[float, float, bool]]]
                 ) -> tuple[list[float], int]:  # fmt: skip
    """Seconds from each probe's wait URL to each board's first answer showing it, and how many
    (probe, board) pairs never showed it while it waited."""
    delays, missed = [], 0
    for k, probe in enumerate(probes):
        # A poll begun before the last probe's hang-up was answered may still show that one.
        after = probes[k - 1].gone if k else float("-inf")
        for polls in boards:
            first = next((answered for started, answered, waiting in polls
                          if waiting and started >= after and answered >= probe.sent
                          and started < probe.gone), None)  # fmt: skip
            if first is None:
                missed += 1
            else:
                delays.append(first - probe.sent)
    return delays, missed


@dataclass
class Run:
    """What one kind of run measured, over its rounds."""

    webhooks: Webhooks = field(default_factory=Webhooks)
    polls: list[tuple[float, int]] = field(default_factory=list)
    server_cpu: float = 0.0
    client_cpu: float = 0.0  # the boards' process
    # Seconds the web processes spent on each webhook, from gunicorn's access log: the client's
    # latency less these is the time a webhook waited for a free process (or for the CPU).
    in_server: list[float] = field(default_factory=list)
    # Seconds from a probe caller's wait URL to a board's first answer showing it.
    board_delays: list[float] = field(default_factory=list)
    board_missed: int = 0

    def summary(self) -> dict[str, object]:
        """Counts and percentiles for the table."""
        hooks = self.webhooks.seconds
        polls = [s for s, _ in self.polls]
        return {
            "webhooks": len(hooks),
            "statuses": dict(sorted(self.webhooks.statuses.items())),
            "p50": ms(hooks, 0.5),
            "p99": ms(hooks, 0.99),
            "max": max(hooks) * 1000,
            "polls": len(polls),
            "poll_statuses": dict(sorted(Counter(status for _, status in self.polls).items())),
            "poll_p50": ms(polls, 0.5) if polls else None,
            "poll_p99": ms(polls, 0.99) if polls else None,
            "poll_max": max(polls) * 1000 if polls else None,
            "server_cpu": self.server_cpu,
            "client_cpu": self.client_cpu,
            "in_server_p50": ms(self.in_server, 0.5),
            "in_server_p99": ms(self.in_server, 0.99),
            "delays": len(self.board_delays),
            "delay_p50": ms(self.board_delays, 0.5) / 1000 if self.board_delays else None,
            "delay_p99": ms(self.board_delays, 0.99) / 1000 if self.board_delays else None,
            "delay_max": max(self.board_delays) if self.board_delays else None,
            "delay_missed": self.board_missed,
        }


def phase(server: Server, args: argparse.Namespace, first: int, boards: list[str], run: Run
          ) -> None:  # fmt: skip
    """Send the calls for ``args.seconds``, with the boards polling if any are given."""
    context = multiprocessing.get_context("spawn")
    ready, go, results = context.Event(), context.Event(), context.Queue()
    process = None
    if boards:
        process = context.Process(target=run_boards,
                                  args=(server.port, boards, args.seconds, ready, go, results))  # fmt: skip
        process.start()
        if not ready.wait(300):
            raise RuntimeError("the boards did not sign in")
        time.sleep(2)  # the sign-ins' password hashing is over before the clock starts
        go.set()
    cpu = server.cpu_seconds()
    logged = access_log(server).stat().st_size
    probes: list[Probe] = []
    stop = time.monotonic() + args.seconds
    prober = threading.Thread(
        target=send_probes, args=(server.port, args.probe_every, args.probe_hold, stop, probes)
    )
    if process is not None:
        prober.start()
    send_calls(server.port, args.calls_per_second, args.seconds, first, args.hold, run.webhooks)
    run.server_cpu += server.cpu_seconds() - cpu
    if process is not None:
        prober.join()
        polls, client_cpu, shown = results.get(timeout=120)
        run.polls.extend(polls)
        run.client_cpu += client_cpu
        delays, missed = board_delays(probes, shown)
        run.board_delays.extend(delays)
        run.board_missed += missed
        process.join()
    with access_log(server).open() as lines:
        lines.seek(logged)
        for line in lines:
            method, path, seconds = line.split()
            if method == "POST" and path.startswith("/voice/"):
                run.in_server.append(float(seconds))


def access_log(server: Server) -> Path:
    """Where gunicorn logs each request's method, path and seconds in the web process."""
    return server.log.with_name("access.log")


def main() -> None:
    """Serve the app, measure the webhooks alone and beside the boards, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database", default="sqlite", help="sqlite (default) or a PostgreSQL URL")
    parser.add_argument("--boards", type=int, default=50)
    parser.add_argument("--calls-per-second", type=float, default=4.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--hold", type=float, default=5.0, help="seconds each caller waits")
    parser.add_argument("--rounds", type=int, default=2, help="alone, beside: how many times")
    parser.add_argument(
        "--probe-every",
        type=float,
        default=3.0,
        help="seconds between the payment callers whose arrival boards must show",
    )
    parser.add_argument(
        "--probe-hold",
        type=float,
        default=2.0,
        help="seconds each payment caller waits before hanging up",
    )
    args = parser.parse_args()
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    with tempfile.TemporaryDirectory(prefix="bench-boards-") as tmp_name:
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
            HOTLINE_ENV="production", HOTLINE_DATA_DIR=str(data_dir), DATABASE_URL=url,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            PUBLIC_BASE_URL=PUBLIC_BASE_URL, SECRET_KEY=secrets.token_hex(32),
            HOTLINE_WORKER="off", PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics"),
        )  # fmt: skip
        log(f"migrating {database}")
        subprocess.run([str(BIN / "flask"), "--app", "app", "db", "upgrade"], cwd=REPO, env=env,
                       check=True, capture_output=True)  # fmt: skip
        log(f"creating {args.boards} agents")
        names = create_agents(env, args.boards)
        alone, beside = Run(), Run()
        (tmp / "access.log").touch()
        logged = (
            "--access-logfile",
            str(tmp / "access.log"),
            "--access-logformat",
            "%(m)s %(U)s %(L)s",
        )
        with gunicorn(APP_SPEC, env, tmp / "app.log", *logged) as server:
            log("warming up")
            send_calls(server.port, args.calls_per_second, WARMUP_SECONDS, 0, args.hold,
                       Webhooks())  # fmt: skip
            # Alternated, so that whatever else the machine does falls on both kinds of run.
            for round_ in range(args.rounds):
                log(f"round {round_ + 1}: webhooks alone, {args.seconds:g} s")
                phase(server, args, 100_000 * (2 * round_ + 1), [], alone)
                log(f"round {round_ + 1}: webhooks beside {args.boards} boards, {args.seconds:g} s")
                phase(server, args, 100_000 * (2 * round_ + 2), names, beside)
            command = server.command
        print(report(args, database, alone.summary(), beside.summary(), command, load_before))


def report(args: argparse.Namespace, database: str, alone: dict[str, object],
           beside: dict[str, object], command: list[str], load_before: str) -> str:  # fmt: skip
    """The table, in Markdown."""

    def row(name: str, r: dict[str, object]) -> str:
        return (f"| {name} | {r['webhooks']} | {r['p50']:.1f} / {r['p99']:.1f} / {r['max']:.1f} "
                f"| {r['statuses']} | {r['polls']} | {r['poll_statuses'] or '-'} | "
                + (f"{r['poll_p50']:.1f} / {r['poll_p99']:.1f} / {r['poll_max']:.1f}"
                   if r["polls"] else "-")
                + f" | {r['in_server_p50']:.1f} / {r['in_server_p99']:.1f} "
                + f"| {r['server_cpu']:.1f} s | {r['client_cpu']:.1f} s |")  # fmt: skip

    return "\n".join([
        f"Webhooks beside live boards — {database}; {cpu_model()}; code {code_version()}; "
        f"load before {load_before}, after {' '.join(Path('/proc/loadavg').read_text().split()[:3])}",
        f"Server: `{' '.join(Path(w).name if i == 0 else w for i, w in enumerate(command))}`",
        f"{args.rounds} × ({args.seconds:g} s alone, {args.seconds:g} s beside the boards), "
        f"{args.calls_per_second:g} calls/s × 5 webhooks, each caller "
        f"waiting {args.hold:g} s in the product queue; "
        f"{args.boards} boards polling /board/live.json once a second with their ETag.",
        "",
        "| run | webhooks | webhook p50 / p99 / max ms | webhook statuses | board polls "
        "| poll statuses | poll p50 / p99 / max ms | webhook in the web process p50 / p99 ms "
        "| server CPU | boards' client CPU |",
        "| --- | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: |",
        row("webhooks alone", alone),
        row(f"webhooks + {args.boards} boards", beside),
        "",
        f"Event to board: a payment caller every {args.probe_every:g} s, in line "
        f"{args.probe_hold:g} s; from its wait URL sent to each board's first answer showing it: "
        f"{beside['delays']} (probe, board) pairs, p50 / p99 / max "
        + (f"{beside['delay_p50']:.2f} / {beside['delay_p99']:.2f} / {beside['delay_max']:.2f} s"
           if beside["delays"] else "-")
        + f"; never shown while it waited: {beside['delay_missed']}",
    ])  # fmt: skip


if __name__ == "__main__":
    main()
