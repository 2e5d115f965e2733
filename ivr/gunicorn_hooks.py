"""gunicorn settings (``gunicorn -c python:ivr.gunicorn_hooks``): one scrape counts every process.

prometheus_client decides at import whether values are shared between processes, so the
directory is chosen here, before any worker imports it, and emptied of an earlier run's counts.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


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
