"""Where original recordings live: named by message id, never by caller input.

One machine keeps them in the data folder (``HOTLINE_AUDIO_STORE=files``, the default). Several
machines keep them in the shared database (``database``), so any web process can play what any
worker fetched. Each message's ``audio_path`` says where its audio is, so changing the setting
never strands the recordings kept before.
"""

from __future__ import annotations

import os
import tempfile
import zlib
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError

from ivr.database import db
from ivr.text import whole_number
from voicemail.models import ConversationAudio, VoicemailAudio

DATABASE_PREFIX = "db:"
# The folders of the data dir that hold messages' and conversations' recordings.
MESSAGES = "recordings"
CONVERSATIONS = "conversations"


class StorageError(Exception):
    """The audio could not be written or read (disk full, permissions, missing file)."""


def _checked(fmt: str) -> str:
    if not fmt.isalnum() or len(fmt) > 8:
        raise StorageError(f"unexpected audio format {fmt!r}")
    return fmt


class AudioStore(Protocol):
    """Keeps a message's recording and gives it back."""

    def save(self, message_id: int, fmt: str, data: bytes) -> str:
        """Keep the audio and return its ``audio_path``."""
        ...


class FileStore:
    """Original recordings under ``<data dir>/recordings`` (conversations: ``conversations``),
    written atomically."""

    def __init__(self, data_dir: str | Path, folder: str = MESSAGES) -> None:
        self.root = Path(data_dir) / folder

    def relative_path(self, message_id: int, fmt: str) -> str:
        """The stored name of a message's audio: from its id and a known format only."""
        return f"{message_id // 1000:05d}/{message_id}.{_checked(fmt)}"

    def save(self, message_id: int, fmt: str, data: bytes) -> str:
        """Write the audio and return its relative path; a crash never leaves half a file."""
        relative = self.relative_path(message_id, fmt)
        target = self.root / relative
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)  # a full disk must not fill up with parts
                raise
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


class DatabaseStore:
    """Recordings in the ``voicemail_audio`` table (conversations: ``conversation_audio``),
    zlib-compressed where that saves space.

    ``save`` only adds the row to the current session: it is committed with the worker's next
    write, so a message never points at audio that was not kept.
    """

    def __init__(self, conversations: bool = False) -> None:
        self.conversations = conversations

    def save(self, message_id: int, fmt: str, data: bytes) -> str:
        """Add the audio to the session and return its ``audio_path``."""
        packed = zlib.compress(data, 6)
        codec, body = ("zlib", packed) if len(packed) < len(data) else ("raw", data)
        try:
            row: VoicemailAudio | ConversationAudio = (
                ConversationAudio(recording_id=message_id, codec=codec, size=len(data), data=body)
                if self.conversations
                else VoicemailAudio(voicemail_id=message_id, codec=codec, size=len(data), data=body)
            )
            db.session.merge(row)
            db.session.flush()
        except SQLAlchemyError as exc:
            db.session.rollback()
            raise StorageError(f"cannot store the recording in the database: {exc}") from exc
        return f"{DATABASE_PREFIX}{message_id}.{_checked(fmt)}"

    def read(self, relative: str) -> bytes:
        """A stored recording's bytes, as received."""
        ident = relative.removeprefix(DATABASE_PREFIX).split(".", 1)[0]
        number = whole_number(ident)
        if number is None:
            raise StorageError(f"not a database recording: {relative!r}")
        try:
            table = ConversationAudio if self.conversations else VoicemailAudio
            row = db.session.get(table, number)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read the recording from the database: {exc}") from exc
        if row is None:
            raise StorageError("the recording is missing from the database")
        return zlib.decompress(row.data) if row.codec == "zlib" else row.data


def store_for(config: Any, *, conversations: bool = False) -> FileStore | DatabaseStore:
    """The store new recordings go to, from ``HOTLINE_AUDIO_STORE``."""
    if config.get("HOTLINE_AUDIO_STORE", "files") == "database":
        return DatabaseStore(conversations)
    return FileStore(config["HOTLINE_DATA_DIR"], CONVERSATIONS if conversations else MESSAGES)


def read_audio(config: Any, audio_path: str, *, conversations: bool = False) -> bytes:
    """A recording's bytes from wherever it was kept (its path says which store)."""
    if audio_path.startswith(DATABASE_PREFIX):
        return DatabaseStore(conversations).read(audio_path)
    folder = CONVERSATIONS if conversations else MESSAGES
    return FileStore(config["HOTLINE_DATA_DIR"], folder).read(audio_path)
