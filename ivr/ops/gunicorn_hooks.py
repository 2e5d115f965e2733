"""gunicorn settings (``gunicorn -c python:ivr.ops.gunicorn_hooks``): processes, and metrics over all.

prometheus_client decides at import whether values are shared between processes, so the
directory is chosen here, before any worker imports it, and emptied of an earlier run's counts.
"""

from __future__ import annotations

import gc
import os
import tempfile
from pathlib import Path
from typing import Any

import gunicorn.http.wsgi

# The Server header must not name the software (and its version) to whoever asks; gunicorn
# writes it itself, from this module variable, read for each response.
gunicorn.http.wsgi.SERVER = ""

# Processes, not threads. A webhook is CPU work between two short database calls, and the threads
# of one process take turns at the GIL: at 32 connections on 2 cores the p99 was 89 ms with 2
# processes × 4 threads and 34 ms with 2 single-threaded ones, which also answered 40 % more
# (bench/webhooks.py). 2 × cores + 1, gunicorn's advice, leaves processes free while some wait on
# the shop's order service (ORDER_LOOKUP_TIMEOUT bounds that wait). Slow clients (an agent
# fetching audio on a poor line) are the TLS proxy's to buffer, as gunicorn's docs require.
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * (os.cpu_count() or 1) + 1)
threads = 1
timeout = 30


def on_starting(server: Any) -> None:
    """Give the web processes a fresh directory to share their metrics through."""
    directory = Path(
        os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="hotline-metrics-")
    )
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def child_exit(server: Any, worker: Any) -> None:
    """A web process ended (or was killed): drop its live figures."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def warm(app: Any) -> None:
    """Compile the pages' templates now rather than in a person's first request to each web
    process (an inbox search took 190 ms the first time, 40 ms after)."""
    env = getattr(app, "jinja_env", None)
    if env is None:
        return
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)


def post_worker_init(worker: Any) -> None:
    """Compile the templates, then leave the loaded app out of the garbage collector's full
    passes."""
    warm(worker.wsgi)
    # A full pass walked the loaded app's 125 000 objects: a 60-70 ms pause now and then, the
    # p99 of requests that otherwise take 10 ms (bench/history.py).
    gc.freeze()
