"""Recorded conversations at scale: search, the quality page and erasure over 1,000 conversations.

What it measures: the latency, through the real app over HTTP, of what supervisors and API clients
do with recorded conversations, on a database holding ``--conversations`` transcribed
conversations (1,000 by default) beside ``--rows`` calls and voice messages (5,000; the history
bench's rows). Each conversation is a call with a recording kept on disk (a small WAV in
``HOTLINE_DATA_DIR/conversations``, as the worker keeps it), its turns (customer and agent, in
Chinese, some with complaints, some agents without a greeting), its search terms written by the
worker's own ``index_conversation`` and its quality check by the worker's own
``check_conversation`` with the shipped rules.

The app is served as the Procfile serves it (gunicorn, production mode); a supervisor signs in
through /login and a token with the ``read`` and ``erase`` scopes is made with ``flask tokens
create``. Each query is requested one at a time on a keep-alive connection after a warm-up:

* search: the inbox's one search (``/inbox?q=``: conversations and messages) for a word agents
  say often, one customers say rarely, and ``GET /api/v1/search?q=``;
* quality: ``/quality`` (worst first), filtered by a tag, by an agent, and a later page;
* erasure: ``POST /api/v1/callers/erase`` for ``--erase`` different callers (each once: calls,
  events, messages, conversations, their files and search terms), then the bench checks that
  nothing of them is left in the database or on disk.

Goal: p99 under 100 ms for every query (issue #16).

Run from the repository root (PostgreSQL: the database is dropped and created again; its name
must start with ``bench_`` and the server must be on loopback)::

    .venv/bin/python bench/conversations.py [--conversations 1000] [--rows 5000]
    .venv/bin/python bench/conversations.py \\
        --database postgresql+psycopg://postgres@127.0.0.1:5432/bench_conversations
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import random
import secrets
import shlex
import sys
import tempfile
import time
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness import (
    APP_SPEC,
    REPO,
    clean_env,
    code_version,
    cpu_model,
    fresh_database,
    gunicorn,
    log,
)
from history import Client, Query, Timing, flask_cli, time_query
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

sys.path.insert(0, str(REPO))

from history_rows import fill

PUBLIC_BASE_URL = "https://hotline.example.com"
SUPERVISOR, PASSWORD = "bench-supervisor", "bench-password-0123"
GOAL_P99_MS = 100.0
AGENTS = ["li", "wang", "zhang", "chen", "liu", "yang", "zhao", "huang"]

# What each side says, as the worker stores it (Chinese without spaces).
GREETINGS = ["您好，很高兴为您服务", "您好，请问有什么可以帮您", "你好"]
CUSTOMER = [
    "我的快递一直显示运输中，已经等了一个星期了", "我要退款，钱还没有退回来", "收到的耳机坏了",
    "付款失败了但是被扣了两次钱", "我想换一个尺码", "你们再不处理我就投诉到12315",
    "发票什么时候能开", "地址写错了能不能改", "这个保修怎么申请", "我要找律师起诉你们",
]  # fmt: skip
AGENT = [
    "我帮您查一下订单", "您的订单已经发货了，预计明天送达", "退款会在三到五个工作日内到账",
    "我给您申请换货", "这个不归我管", "请您提供一下订单号", "我们会尽快给您回电",
    "您可以在售后页面申请退货",
]  # fmt: skip
CLOSINGS = ["还有什么可以帮您的吗，感谢来电，再见", "感谢来电，再见", "好的"]


def silent_wav(seconds: float) -> bytes:
    """What a kept recording is on disk: 8 kHz, two channels (here silence)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0" * int(seconds * 8000) * 4)
    return out.getvalue()


def turns_of(rng: random.Random) -> list[dict[str, Any]]:
    """One conversation's turns, with times."""
    said = []
    if rng.random() < 0.85:
        said.append(("agent", rng.choice(GREETINGS)))
    for _ in range(rng.randint(2, 5)):
        said += [("customer", rng.choice(CUSTOMER)), ("agent", rng.choice(AGENT))]
    said.append(("agent", rng.choice(CLOSINGS)))
    turns, at = [], 0.5
    for speaker, text in said:
        length = 0.25 * len(text)
        turns.append({"speaker": speaker, "start": round(at, 2), "end": round(at + length, 2),
                      "text": text, "words": []})  # fmt: skip
        at += length + rng.uniform(0.3, 1.5)
    return turns


def fill_conversations(
    overrides: dict[str, Any], count: int, callers: int, rng: random.Random
) -> list[str]:
    """Write ``count`` transcribed conversations of ``callers`` different numbers through the
    worker's own functions; the numbers (each with at least one conversation)."""
    from app import create_app
    from ivr.database import db
    from ivr.models import Agent, Call
    from ivr.queues.agents import create_agent
    from voicemail.models import ConversationRecording, VoicemailStatus
    from voicemail.quality_checks import check_conversation
    from voicemail.search import index_conversation
    from voicemail.storage import store_for

    app = create_app(overrides)
    numbers = [f"+86139{n:08d}" for n in rng.sample(range(10**8), callers)]
    audio = silent_wav(2.0)
    now = datetime.now(UTC).replace(microsecond=0)
    with app.app_context():
        agents = []
        for name in AGENTS:
            agent = db.session.scalar(select(Agent).where(Agent.name == name))
            agents.append(agent or create_agent(db.session, name, password=PASSWORD))
        db.session.commit()
        store = store_for(app.config, conversations=True)
        for n in range(count):
            number = numbers[n % callers]
            started = now - timedelta(days=rng.randint(0, 29), seconds=rng.randint(0, 86_400))
            call = Call(sid="CA" + secrets.token_hex(16), from_number=number,
                        to_number="+864008001234", status="completed", language="zh",
                        started_at=started, outcome="agent")  # fmt: skip
            db.session.add(call)
            db.session.flush()
            turns = turns_of(rng)
            text = "\n".join(t["text"] for t in turns)
            agent = rng.choice(agents)
            row = ConversationRecording(
                call_id=call.id, call_sid=call.sid, agent_id=agent.id, queue="product",
                language="zh", from_number=number, recording_sid="RE" + secrets.token_hex(16),
                recording_url="https://api.twilio.com/2010-04-01/Recordings/x",
                recording_duration=int(turns[-1]["end"]) + 1, started_at=started,
                status=VoicemailStatus.TRANSCRIBED, turns=turns, transcript=text,
                raw_transcript=text, duration=turns[-1]["end"], model="bench",
                transcribed_at=started,
            )  # fmt: skip
            db.session.add(row)
            db.session.flush()
            row.audio_path = store.save(row.id, "wav", audio)
            row.audio_format, row.audio_bytes = "wav", len(audio)
            index_conversation(db.session, row.id, text)
            check_conversation(db.session, row, alert=False)
            if n % 200 == 199:
                db.session.commit()
                log(f"  {n + 1} conversations")
        db.session.commit()
        db.engine.dispose()
    return numbers


def erase_timings(client: Client, numbers: list[str]) -> Timing:
    """Erase each caller once through the API; the latencies."""
    seconds, size = [], 0
    for number in numbers:
        body = json.dumps({"number": number})
        status, reply, took = client.request(
            "POST", "/api/v1/callers/erase", body, api=True, content_type="application/json"
        )
        if status != 200:
            raise RuntimeError(f"erasing {number} answered {status}: {reply[:300]!r}")
        seconds.append(took)
        size = len(reply)
    return Timing(Query("erasure", "POST /api/v1/callers/erase (one caller each)", ""),
                  seconds, len(numbers), size)  # fmt: skip


def left_of(url: str, data_dir: Path, numbers: list[str]) -> tuple[int, int]:
    """(rows, files) still holding the erased callers: both must be 0."""
    from ivr.models import Call
    from voicemail.models import ConversationRecording, Voicemail

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        rows = sum(
            conn.scalar(select(func.count()).select_from(model).where(column.in_(numbers))) or 0
            for model, column in ((Call, Call.from_number), (Voicemail, Voicemail.from_number),
                                  (ConversationRecording, ConversationRecording.from_number))
        )  # fmt: skip
        kept = {p for (p,) in conn.execute(select(ConversationRecording.audio_path))}
    engine.dispose()
    on_disk = {
        str(p.relative_to(data_dir / "conversations"))
        for p in (data_dir / "conversations").rglob("*.wav")
    }
    return rows, len(on_disk - kept)


def report(
    args: argparse.Namespace, database: str, timings: list[Timing], filled: str, left: tuple
) -> str:
    """The Markdown results."""
    lines = [
        f"## Recorded conversations at scale: {args.conversations} conversations ({database})",
        "",
        "| | |",
        "| --- | --- |",
        f"| machine | `{platform.machine()}`, {cpu_model()} |",
        f"| date | {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} |",
        f"| command | `{shlex.join(sys.orig_argv)}` |",
        f"| code | {code_version()} |",
        f"| data | {filled} |",
        "| method | gunicorn as the Procfile runs it; one request at a time on a keep-alive "
        "connection after 3 warm-up requests; latency as the client sees it |",
        "",
        "| group | query | n | p50 ms | p99 ms | listed | bytes | result |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for t in timings:
        ok = "PASS" if t.ms(0.99) < GOAL_P99_MS else "FAIL"
        lines.append(f"| {t.query.group} | {t.query.name} | {len(t.seconds)} | {t.ms(0.5):.1f} "
                     f"| {t.ms(0.99):.1f} | {t.items} | {t.size} | {ok} |")  # fmt: skip
    rows, files = left
    failed = [t for t in timings if t.ms(0.99) >= GOAL_P99_MS]
    lines += [
        "",
        f"After erasure: {rows} rows and {files} audio files of the erased callers left "
        + ("(PASS)" if rows == files == 0 else "(FAIL)"),
        f"Goal: p99 < {GOAL_P99_MS:.0f} ms for every query: "
        + ("PASS" if not failed else f"FAIL ({len(failed)} of {len(timings)} miss it)"),
    ]
    return "\n".join(lines)


def main() -> None:
    """Fill, serve, time every query, erase, check, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database", default="sqlite", help="sqlite (default) or a PostgreSQL URL")
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--callers", type=int, default=400, help="different customers")
    parser.add_argument("--rows", type=int, default=5000, help="calls and messages beside them")
    parser.add_argument("--repeat", type=int, default=100, help="timed requests per query")
    parser.add_argument("--budget", type=float, default=15.0, help="seconds per query at most")
    parser.add_argument("--erase", type=int, default=100, help="callers erased (each once)")
    args = parser.parse_args()
    rng = random.Random(16)
    with tempfile.TemporaryDirectory(prefix="bench-conversations-") as tmp_name:
        tmp = Path(tmp_name)
        data_dir = tmp / "data"
        if args.database == "sqlite":
            url = f"sqlite:///{data_dir / 'hotline.sqlite'}"
            database = "SQLite (WAL, fresh file)"
        else:
            url = args.database
            fresh_database(url)
            database = f"PostgreSQL `{make_url(url).render_as_string(hide_password=True)}`"
        settings = {
            "HOTLINE_ENV": "production", "HOTLINE_DATA_DIR": str(data_dir), "DATABASE_URL": url,
            "TWILIO_ACCOUNT_SID": "AC" + "be" * 16, "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
            "PUBLIC_BASE_URL": PUBLIC_BASE_URL, "SECRET_KEY": secrets.token_hex(32),
            "HOTLINE_WORKER": "off", "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics"),
        }  # fmt: skip
        env = clean_env(**settings)
        log(f"migrating {database}")
        flask_cli(env, "db", "upgrade")
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        log(f"writing {args.rows} calls and messages")
        fill(engine, args.rows)
        engine.dispose()
        log(f"writing {args.conversations} conversations")
        started = time.perf_counter()
        overrides = {**settings, "SQLALCHEMY_DATABASE_URI": url}
        numbers = fill_conversations(overrides, args.conversations, args.callers, rng)
        filled = (f"{args.rows} calls and messages, {args.conversations} conversations of "
                  f"{args.callers} callers with audio files, terms and quality checks "
                  f"(written in {time.perf_counter() - started:.0f} s)")  # fmt: skip
        flask_cli(env, "agents", "create", SUPERVISOR, "--password", PASSWORD, "--admin")
        token = flask_cli(env, "tokens", "create", "bench-conversations",
                          "--scopes", "read,erase" if args.erase else "read",
                          ).strip().splitlines()[-1]  # fmt: skip
        queries = [
            Query("search", "inbox: 退款 (agents say it often)", "/inbox?q=" + quote("退款")),
            Query("search", "inbox: 保修 (rare)", "/inbox?q=" + quote("保修")),
            Query("search", "API: 发货", "/api/v1/search?q=" + quote("发货")),
            Query("quality", "quality page, worst first", "/quality"),
            Query("quality", "quality: complaints", "/quality?tag=complaint"),
            Query("quality", "quality: one agent", "/quality?agent=wang"),
            Query("quality", "quality: page 10", "/quality?page=10"),
        ]
        with gunicorn(APP_SPEC, env, tmp / "app.log") as server:
            client = Client(server.port)
            client.token = token
            client.sign_in(SUPERVISOR, PASSWORD)
            timings = []
            for query in queries:
                log(f"timing {query.name}")
                timings.append(time_query(client, query, [""], args.repeat, args.budget, rng))
            erased = numbers[: args.erase]
            if erased:
                log(f"erasing {len(erased)} callers")
                timings.append(erase_timings(client, erased))
        left = left_of(url, data_dir, erased)
        print(report(args, database, timings, filled, left))
        if left != (0, 0) or any(t.ms(0.99) >= GOAL_P99_MS for t in timings):
            sys.exit(1)


if __name__ == "__main__":
    main()
