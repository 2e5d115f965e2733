"""Realistic rows for bench/history.py: 90 days of calls, queue entries and messages, filled
straight into the database."""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from harness import (
    REPO,
    log,
)
from sqlalchemy import Engine, Table, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(REPO))

from ivr.models import Agent, Call, CallEvent, QueueEntry
from voicemail.cases import luhn_digit
from voicemail.models import Voicemail, VoicemailTerm
from voicemail.search import index_message, index_terms

DAYS = 90
AGENTS = 24
CHUNK = 5000

# What callers say, as Vosk's Chinese model writes it: words separated by spaces.
ZH_OPENINGS = ["你好", "喂 你好", "您好", "你好 客服", "喂"]
ZH_ASKS = ["我 想 问 一下", "麻烦 帮 我 查 一下", "请问", "我 要 投诉", "我 想 咨询 一下",
           "帮 我 看看"]  # fmt: skip
ZH_THINGS = [
    ("我 的 订单", 30), ("快递", 14), ("包裹", 8), ("退款", 10), ("退货", 8), ("发票", 3),
    ("优惠券", 3), ("会员 积分", 2), ("手机", 5), ("耳机", 3), ("衣服", 4), ("鞋子", 3),
    ("物流", 6), ("售后", 5), ("换货", 3), ("充电器", 2), ("保修", 2),
]  # fmt: skip
ZH_PROBLEMS = [
    "还 没有 到", "已经 等 了 一 个 星期 了", "收到 的 东西 坏 了", "颜色 不 对", "尺码 太 小",
    "少 发 了 一 件", "付款 失败 了", "被 扣 了 两 次 钱", "地址 写 错 了", "一直 显示 运输 中",
    "质量 有 问题", "怎么 申请", "什么 时候 能 到", "能 不 能 换 一个", "钱 还 没有 退 回来",
]  # fmt: skip
ZH_DETAILS = ["订单 号 是 {digits}", "我 的 电话 是 {digits}", "工单 号 是 {digits}",
              "是 上 周 买 的", "在 网上 买 的", "昨天 签收 的"]  # fmt: skip
ZH_CLOSINGS = ["麻烦 尽快 回 电话 谢谢", "谢谢", "请 给 我 回 个 电话", "再见", "谢谢 再见",
               "麻烦 你们 处理 一下"]  # fmt: skip
ZH_DIGITS = "零一二三四五六七八九"
EN_OPENINGS = ["hello", "hi there", "hello this is a message for customer service", "hi"]
EN_ASKS = ["i would like to ask about", "can you check", "i want to complain about",
           "i have a question about"]  # fmt: skip
EN_THINGS = [("my order", 30), ("the delivery", 12), ("a refund", 10), ("the invoice", 3),
             ("my iphone case", 4), ("the headphones", 4), ("a return", 8),
             ("my parcel", 8)]  # fmt: skip
EN_PROBLEMS = ["it has not arrived yet", "it arrived damaged", "the payment failed",
               "i was charged twice", "the address is wrong", "it is the wrong size"]  # fmt: skip
EN_CLOSINGS = [
    "please call me back",
    "thank you",
    "thanks bye",
    "please call me as soon as possible",
]

TOPICS = ["product", "payment", "after_sales", "general"]
PATHS = {  # how a message was left, with its share of calls
    "menu": (["language", "main", "message"], 40),
    "busy": (["language", "main", "{topic}", "message"], 25),
    "timeout": (["language", "main", "{topic}", "message"], 10),
    "after_call": (["language", "main", "{topic}", "after_call"], 25),
}
HOURLY = [8, 14, 22, 30, 32, 30, 26, 28, 30, 28, 24, 18, 10, 5, 2, 1, 1, 1, 1, 1, 1, 1, 2, 4]


def weighted(rng: random.Random, pairs: list[tuple[str, int]]) -> str:
    """One of ``pairs``' items, by weight."""
    return rng.choices([p for p, _ in pairs], [w for _, w in pairs])[0]


def transcript(rng: random.Random, lang: str) -> str:
    """A voice message as the model of ``lang`` writes it."""
    if lang == "en":
        parts = [rng.choice(EN_OPENINGS), rng.choice(EN_ASKS), weighted(rng, EN_THINGS),
                 rng.choice(EN_PROBLEMS), rng.choice(EN_CLOSINGS)]  # fmt: skip
        return " ".join(parts)
    parts = [rng.choice(ZH_OPENINGS), rng.choice(ZH_ASKS), weighted(rng, ZH_THINGS),
             rng.choice(ZH_PROBLEMS)]  # fmt: skip
    if rng.random() < 0.6:
        digits = " ".join(rng.choice(ZH_DIGITS) for _ in range(rng.randint(5, 8)))
        parts.append(rng.choice(ZH_DETAILS).format(digits=digits))
    if rng.random() < 0.3:
        parts += [weighted(rng, ZH_THINGS), rng.choice(ZH_PROBLEMS)]
    parts.append(rng.choice(ZH_CLOSINGS))
    return " ".join(parts)


def words_of(rng: random.Random, text_: str) -> list[dict[str, Any]]:
    """Vosk-style word timings and confidences for a transcript."""
    words, at = [], round(rng.uniform(0.3, 1.2), 2)
    for word in text_.split():
        length = round(0.18 * len(word) + rng.uniform(0.05, 0.3), 2)
        words.append({"word": word, "start": at, "end": round(at + length, 2),
                      "conf": round(rng.uniform(0.45, 1.0), 3)})  # fmt: skip
        at = round(at + length + rng.uniform(0.02, 0.4), 2)
    return words


@dataclass
class Filled:
    """What the fill wrote, and what the queries need to know about it."""

    calls: int = 0
    events: int = 0
    entries: int = 0
    messages: int = 0
    terms: int = 0
    seconds: float = 0.0
    sids: list[str] = field(default_factory=list)
    frequent_number: str = ""
    newest: datetime = field(default_factory=lambda: datetime.now(UTC))


def fill(engine: Engine, rows: int, seed: int = 7) -> Filled:
    """Write ``rows`` calls (events, queue entries) and ``rows`` messages with search terms."""
    rng = random.Random(seed)
    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    first = now - timedelta(days=DAYS)
    result = Filled(newest=now)
    callers = [f"+86{rng.choice(['138', '139', '137', '186', '150'])}{rng.randrange(10**8):08d}"
               for _ in range(max(rows * 3 // 5, 10))]  # fmt: skip
    callers += [f"+1415555{rng.randrange(10**4):04d}" for _ in range(max(rows // 50, 2))]
    # A few people call very often: they make the "calls from this number" filter interesting.
    regulars = callers[:20]
    result.frequent_number = regulars[0]
    agents = write_agents(engine)
    # Start times: the last 90 days up to a few minutes ago, busier in China's daytime (UTC+8).
    midnight = first.replace(hour=0, minute=0, second=0)
    starts: list[datetime] = []
    while len(starts) < rows:
        start = midnight + timedelta(
            days=rng.randrange(DAYS + 1),
            hours=rng.choices(range(24), HOURLY)[0],
            seconds=rng.randrange(3600),
        )
        if first <= start < now - timedelta(minutes=5):
            starts.append(start)
    starts.sort()
    kinds = list(PATHS)
    for chunk_start in range(0, rows, CHUNK):
        calls, events, entries, messages, terms = [], [], [], [], []
        for i in range(chunk_start, min(chunk_start + CHUNK, rows)):
            ident = i + 1
            lang = "en" if rng.random() < 0.2 else "zh"
            caller = rng.choice(regulars) if rng.random() < 0.03 else rng.choice(callers)
            kind = rng.choices(kinds, [PATHS[k][1] for k in kinds])[0]
            topic = rng.choice(TOPICS)
            path = [
                n.format(topic=topic if topic != "general" else "agent") for n in PATHS[kind][0]
            ]
            at = starts[i]
            sid = "CA" + f"{ident:032x}"
            waited = rng.randint(5, 400) if kind in ("timeout", "after_call") else 0
            talk = rng.randint(40, 900) if kind == "after_call" else 0
            message_len = rng.randint(8, 90)
            duration = rng.randint(20, 60) + waited + talk + message_len
            rating = rng.choice([None, 3, 4, 5, 5, 2, 1]) if kind == "after_call" else None
            calls.append({"id": ident, "sid": sid, "account_sid": "AC" + "be" * 16,
                          "from_number": caller, "to_number": "+864008001234",
                          "direction": "inbound", "status": "completed", "language": lang,
                          "menu_path": ">".join(path),
                          "outcome": "agent" if kind == "after_call" else "voicemail",
                          "started_at": at, "ended_at": at + timedelta(seconds=duration),
                          "duration": duration, "rating": rating})  # fmt: skip
            events += call_events(ident, caller, at, path, lang, kind, topic, waited, rng)
            if kind in ("timeout", "after_call"):
                entries.append(queue_entry(ident, sid, caller, at, topic, lang, path[2], kind,
                                           waited, talk, rng.choice(agents)))  # fmt: skip
            created = at + timedelta(seconds=duration - 2)
            message, message_terms = voicemail(ident, sid, caller, created, lang, topic, kind,
                                               message_len, now, agents, rng)  # fmt: skip
            messages.append(message)
            terms += message_terms
            if i % 997 == 0:
                result.sids.append(sid)
        with engine.begin() as conn:
            conn.execute(table(Call).insert(), calls)
            conn.execute(table(CallEvent).insert(), events)
            if entries:
                conn.execute(table(QueueEntry).insert(), entries)
            conn.execute(table(Voicemail).insert(), messages)
            conn.execute(table(VoicemailTerm).insert(), terms)
        result.calls += len(calls)
        result.events += len(events)
        result.entries += len(entries)
        result.messages += len(messages)
        result.terms += len(terms)
        log(f"  {result.calls} calls, {result.events} events, {result.terms} search terms")
    finish_fill(engine)
    result.seconds = time.perf_counter() - started
    return result


def table(model: type[Any]) -> Table:
    """A model's table, for Core inserts."""
    return model.__table__  # type: ignore[no-any-return]


def write_agents(engine: Engine) -> list[int]:
    """The agents who answered the calls (rows only: they never sign in)."""
    rows = [{"id": 1000 + n, "name": f"agent{n:02d}", "role": "agent", "languages": ["zh", "en"],
             "topics": TOPICS, "presence": "away"} for n in range(AGENTS)]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(table(Agent).insert(), rows)
    return [r["id"] for r in rows]


def call_events(
    call_id: int,
    caller: str,
    at: datetime,
    path: list[str],
    lang: str,
    kind: str,
    topic: str,
    waited: int,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """The events a call of this shape logs, step by step, as ivr/callflow/call_log.py writes them."""
    steps: list[list[tuple[str, str | None, dict[str, Any]]]] = [
        [("incoming", None, {"from": caller, "to": "+864008001234"}),
         ("node", "language", {"type": "language"})],
        [("keys", "language", {"digits": "1" if lang == "zh" else "2"}),
         ("language", "language", {"language": lang, "chosen_by": "key"}),
         ("node", "main", {"type": "menu"})],
    ]  # fmt: skip
    if kind == "menu":
        steps.append(
            [("keys", "main", {"digits": "9"}), ("node", "message", {"type": "voicemail"})]
        )
    else:
        key = {"product": "1", "payment": "3", "after_sales": "4", "general": "0"}[topic]
        queue = f"{topic}-{lang}"
        step = [("keys", "main", {"digits": key}), ("node", path[2], {"type": "queue"})]
        if kind == "busy":
            step += [("queue_unavailable", path[2], {"queue": queue, "reason": "no_agent"}),
                     ("node", "message", {"type": "voicemail"})]  # fmt: skip
        else:
            step.append(("queue_entered", path[2], {"queue": queue, "waiting": rng.randint(0, 6)}))
        steps.append(step)
    steps.append([("voicemail_recorded", path[-1], {"case_number": "", "ended_by": "#"})])
    rows = []
    clock = at
    for number, step_events in enumerate(steps):
        clock += timedelta(seconds=rng.randint(3, 12) + (waited if number == 3 else 0))
        for position, (event_kind, node, detail) in enumerate(step_events):
            rows.append({"call_id": call_id, "step": number, "position": position,
                         "at": clock + timedelta(microseconds=position), "kind": event_kind,
                         "node": node, "detail": detail})  # fmt: skip
    rows.append({"call_id": call_id, "step": -10, "position": 0, "at": clock + timedelta(seconds=9),
                 "kind": "status", "node": None,
                 "detail": {"status": "completed", "sequence": 0}})  # fmt: skip
    return rows


def queue_entry(
    call_id: int,
    sid: str,
    caller: str,
    at: datetime,
    topic: str,
    lang: str,
    node: str,
    kind: str,
    waited: int,
    talk: int,
    agent: int,
) -> dict[str, Any]:
    """A caller's stay in a queue: answered by an agent, or given up for a message."""
    entered = at + timedelta(seconds=25)
    answered = kind == "after_call"
    return {
        "call_id": call_id, "call_sid": sid, "queue": f"{topic}-{lang}", "topic": topic,
        "language": lang, "node": node, "from_number": caller,
        "state": "done" if answered else "left", "result": "completed" if answered else "message",
        "leave_reason": None if answered else "timeout", "entered_at": entered,
        "left_at": entered + timedelta(seconds=waited + talk), "wait_seconds": waited,
        "agent_id": agent if answered else None,
        "offered_at": entered + timedelta(seconds=max(waited - 8, 0)) if answered else None,
        "bridged_at": entered + timedelta(seconds=waited) if answered else None,
        "talk_seconds": talk if answered else None, "announcements": waited // 45,
    }  # fmt: skip


def voicemail(
    ident: int,
    sid: str,
    caller: str,
    created: datetime,
    lang: str,
    topic: str,
    kind: str,
    length: int,
    now: datetime,
    agents: list[int],
    rng: random.Random,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A message, its case moved on as agents do, and its search terms."""
    age = now - created
    case_body = str(1_000_000 + ident)
    status = rng.choices(["transcribed", "untranscribed", "failed"], [93, 4, 3])[0]
    if age < timedelta(minutes=3):
        status = "pending"
    spoken = transcript(rng, lang) if status == "transcribed" else None
    # Cases move on as agents work: the last hours' are still open, older ones mostly resolved.
    shares = [55, 25, 10, 10] if age < timedelta(hours=2) else [1, 14, 35, 50]
    if age > timedelta(days=3):
        shares = [0.2, 0.8, 20, 79]
    case_status = rng.choices(["received", "in_progress", "answered", "resolved"], shares)[0]
    assigned = None if case_status == "received" else rng.choice(agents)
    answered_at = None
    if case_status in ("answered", "resolved"):
        delay = timedelta(minutes=rng.choice([3, 8, 12, 14, 20, 45, 90, 240]))
        answered_at = min(created + delay, now)
    category = "after_call" if kind == "after_call" else topic if kind != "menu" else "general"
    row = {
        "id": ident, "call_id": ident, "call_sid": sid, "case_number": case_body + luhn_digit(case_body),
        "case_status": case_status, "assigned_agent_id": assigned, "answered_at": answered_at,
        "category": category, "language": lang, "from_number": caller,
        "recording_sid": "RE" + f"{ident:032x}",
        "recording_url": f"https://api.twilio.com/2010-04-01/Accounts/AC{'be' * 16}/Recordings/RE{ident:032x}",
        "recording_duration": length, "created_at": created, "status": status,
        "status_reason": "no model for this language" if status == "untranscribed"
        else "the audio is silent" if status == "failed" else "",
        "attempts": 1, "next_attempt_at": created,
        "audio_path": None if status == "pending" else f"{ident:08d}.wav",
        "audio_format": None if status == "pending" else "wav",
        "audio_bytes": None if status == "pending" else length * 16_000,
        "duration": float(length), "transcript": spoken, "raw_transcript": spoken,
        "words": words_of(rng, spoken) if spoken else None,
        "model": f"vosk-model-small-{'cn' if lang == 'zh' else 'en-us'}-0.22" if spoken else None,
        "transcription_seconds": round(length * 0.31, 2) if spoken else None,
        "transcribed_at": created + timedelta(seconds=40) if spoken else None,
    }  # fmt: skip
    terms = [{"voicemail_id": ident, "term": term} for term in sorted(index_terms(spoken or ""))]
    return row, terms


def finish_fill(engine: Engine) -> None:
    """What a long-lived database has after such inserts: sequences past the ids, statistics."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for name in ("calls", "voicemails", "agents"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                  f"(SELECT max(id) FROM {name}))"))  # fmt: skip
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def check_terms(engine: Engine, sample: int = 25) -> None:
    """Re-index a sample with ``index_message``: it must write exactly the rows the fill wrote."""
    with Session(engine) as session:
        ids = session.scalars(
            select(Voicemail.id).where(Voicemail.transcript.is_not(None)).limit(sample)
        ).all()
        for ident in ids:
            terms = select(VoicemailTerm.term).where(VoicemailTerm.voicemail_id == ident)
            before = set(session.scalars(terms))
            spoken = session.scalar(select(Voicemail.transcript).where(Voicemail.id == ident))
            index_message(session, ident, spoken or "")
            after = set(session.scalars(terms))
            if before != after:
                raise SystemExit(f"the bulk terms of message {ident} differ from index_message's")
        session.rollback()
