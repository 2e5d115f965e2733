"""The transcription bench's processes: a bare Vosk loop and the real worker, each measured."""

from __future__ import annotations

import json
import logging
import os
import queue
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.context import SpawnContext
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import TYPE_CHECKING, Any

import vosk
from transcription_report import CpuMeter

from ivr.database import db
from voicemail.audio import PcmAudio

if TYPE_CHECKING:
    from transcription_messages import WorkerCheck

# Vosk's own examples feed 4000 frames per AcceptWaveform call.
BARE_CHUNK_FRAMES = 4000


READY_TIMEOUT = 300.0


RUN_TIMEOUT = 3600.0


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
