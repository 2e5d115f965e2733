"""Where original recordings live: the data folder, named by message id, never by caller input."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class StorageError(Exception):
    """The audio could not be written or read (disk full, permissions, missing file)."""


class AudioStore:
    """Original recordings under ``<data dir>/recordings``, written atomically."""

    def __init__(self, data_dir: str | Path) -> None:
        self.root = Path(data_dir) / "recordings"

    def relative_path(self, message_id: int, fmt: str) -> str:
        """The stored name of a message's audio: from its id and a known format only."""
        if not fmt.isalnum() or len(fmt) > 8:
            raise StorageError(f"unexpected audio format {fmt!r}")
        return f"{message_id // 1000:05d}/{message_id}.{fmt}"

    def save(self, message_id: int, fmt: str, data: bytes) -> str:
        """Write the audio and return its relative path; a crash never leaves half a file."""
        relative = self.relative_path(message_id, fmt)
        target = self.root / relative
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            raise StorageError(f"cannot store the recording: {exc.strerror or exc}") from exc
        return relative

    def path(self, relative: str) -> Path:
        """The absolute path of a stored recording (refusing anything outside the store)."""
        full = (self.root / relative).resolve()
        if not full.is_relative_to(self.root.resolve()):
            raise StorageError("path outside the recordings folder")
        return full

    def read(self, relative: str) -> bytes:
        """A stored recording's bytes."""
        try:
            return self.path(relative).read_bytes()
        except OSError as exc:
            raise StorageError(f"cannot read the recording: {exc.strerror or exc}") from exc
