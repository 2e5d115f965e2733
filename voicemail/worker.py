"""The transcription worker: claims pending voice messages with a lease and transcribes them.

The voicemail row is the job. A worker claims the oldest due row by compare-and-set on its
lease (with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so workers do not queue behind each other),
and writes its result only while it still holds the lease: a worker that died leaves a lease that
expires and another takes the job over, and a late writer can never record a second transcript.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ivr.clock import utcnow
from ivr.database import db
from ivr.hotline import menu_languages
from ivr.ops.logs import bind_call
from ivr.twilio.rest import FetchError, credentials, delete_recording, download_recording
from voicemail.audio import AudioError, decode, sniff_format
from voicemail.models import Voicemail, VoicemailStatus
from voicemail.search import index_message
from voicemail.storage import AudioStore, StorageError, read_audio, store_for
from voicemail.transcription import (
    ModelLoadError,
    ModelRegistry,
    NoModelError,
    Transcript,
    readable_text,
    transcribe,
)

log = logging.getLogger(__name__)

CLAIMABLE = (VoicemailStatus.PENDING, VoicemailStatus.TRANSCRIBING)
BACKOFF_FIRST = 2.0
BACKOFF_CAP = 600.0


class LeaseLost(Exception):
    """Another worker took the job over; this one must drop it without writing."""


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker claims and retries."""

    lease_seconds: float = 120.0
    max_attempts: int = 8
    poll_seconds: float = 1.0

    @classmethod
    def from_config(cls, config: Any) -> WorkerSettings:
        """Read the HOTLINE_WORKER_* settings."""
        return cls(
            lease_seconds=float(config["HOTLINE_WORKER_LEASE"]),
            max_attempts=int(config["HOTLINE_WORKER_MAX_ATTEMPTS"]),
            poll_seconds=float(config["HOTLINE_WORKER_POLL"]),
        )


def worker_name() -> str:
    """A name unique to this worker: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def backoff(attempts: int) -> timedelta:
    """Wait before retry ``attempts``: 2 s, 4 s, 8 s … up to 10 minutes."""
    return timedelta(seconds=min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_CAP))


def claim_next(
    session: Session, worker: str, lease_seconds: float, max_attempts: int
) -> Voicemail | None:
    """Lease the oldest due message to ``worker``; None when nothing is due.

    The attempt is counted as the lease is taken, so a message whose worker dies with it (out
    of memory, a crash) uses its attempts up too: taken over once they are spent, it fails.
    """
    now = utcnow()
    due = (
        select(Voicemail.id, Voicemail.status, Voicemail.attempts)
        .where(
            Voicemail.status.in_(CLAIMABLE),
            Voicemail.next_attempt_at <= now,
            or_(Voicemail.lease_until.is_(None), Voicemail.lease_until < now),
        )
        .order_by(Voicemail.next_attempt_at, Voicemail.id)
        .limit(5)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    for candidate, status, attempts in session.execute(due).all():
        takeover = status == VoicemailStatus.TRANSCRIBING  # its worker stopped holding it
        if takeover and attempts >= max_attempts:
            _give_up_on_poison(session, candidate, attempts, now)
            continue
        claimed = session.execute(
            update(Voicemail)
            .where(
                Voicemail.id == candidate,
                Voicemail.status.in_(CLAIMABLE),
                or_(Voicemail.lease_until.is_(None), Voicemail.lease_until < now),
            )
            .values(
                status=VoicemailStatus.TRANSCRIBING,
                leased_by=worker,
                lease_until=now + timedelta(seconds=lease_seconds),
                attempts=Voicemail.attempts + 1,
            )
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            session.commit()
            return session.get(Voicemail, candidate)
    session.commit()
    return None


def _give_up_on_poison(session: Session, message_id: int, attempts: int, now: datetime) -> None:
    """Fail a message whose workers kept dying on it, instead of taking it over once more."""
    failed = session.execute(
        update(Voicemail)
        .where(
            Voicemail.id == message_id,
            Voicemail.status == VoicemailStatus.TRANSCRIBING,
            Voicemail.lease_until < now,
        )
        .values(
            status=VoicemailStatus.FAILED,
            status_reason=(
                f"gave up after {attempts} attempt(s): the worker stopped while transcribing "
                "this message (killed, out of memory or crashed)"
            ),
            leased_by=None,
            lease_until=None,
        )
    )
    if failed.rowcount == 1:  # type: ignore[attr-defined]
        log.warning(
            "voicemail %s failed: the worker stopped while transcribing it, %s attempt(s) spent",
            message_id,
            attempts,
        )
    session.commit()


def _write(session: Session, message_id: int, worker: str, **values: Any) -> None:
    """Write to a job only while this worker holds its lease."""
    done = session.execute(
        update(Voicemail)
        .where(
            Voicemail.id == message_id,
            Voicemail.leased_by == worker,
            Voicemail.status == VoicemailStatus.TRANSCRIBING,
        )
        .values(**values)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise LeaseLost(f"voicemail {message_id} was taken over")
    session.commit()


def _renew(session: Session, message_id: int, worker: str, lease_seconds: float) -> None:
    _write(session, message_id, worker, lease_until=utcnow() + timedelta(seconds=lease_seconds))


def transcript_columns(result: Transcript) -> dict[str, Any]:
    """What a transcription writes on its row: the text for people, the raw text and words."""
    return {
        "transcript": result.text,
        "raw_transcript": result.raw_text,
        "words": [vars(word) for word in result.words],
        "model": result.model[:255],
        "transcription_seconds": result.elapsed,
        "transcribed_at": utcnow(),
    }


def make_readable(session: Session, batch: int = 500) -> int:
    """Write the transcripts of messages transcribed before they were made for people again from
    their raw text, and index them anew; return how many changed. Words are left as they are."""
    changed, after = 0, 0
    while True:
        rows = session.execute(
            select(Voicemail.id, Voicemail.raw_transcript, Voicemail.transcript, Voicemail.language)
            .where(
                Voicemail.id > after,
                Voicemail.status == VoicemailStatus.TRANSCRIBED,
                Voicemail.raw_transcript.is_not(None),
            )
            .order_by(Voicemail.id)
            .limit(batch)
        ).all()
        if not rows:
            return changed
        for ident, raw, text, language in rows:
            readable = readable_text(raw or "", language or "zh")
            if readable != text:
                session.execute(
                    update(Voicemail).where(Voicemail.id == ident).values(transcript=readable)
                )
                index_message(session, ident, readable)
                changed += 1
        session.commit()
        after = rows[-1][0]


def _finish(session: Session, message_id: int, worker: str, **values: Any) -> None:
    _write(session, message_id, worker, leased_by=None, lease_until=None, **values)


@dataclass
class Job:
    """Everything one worker needs to process messages."""

    config: Any
    registry: ModelRegistry
    store: AudioStore
    settings: WorkerSettings
    name: str

    def process(self, session: Session, message: Voicemail) -> VoicemailStatus:
        """Fetch, keep, decode and transcribe one claimed message; return its new status."""
        ident = message.id
        try:
            if message.audio_path is None:
                self._fetch_and_keep(session, message)
            data = read_audio(self.config, message.audio_path or "")
            language = message.language or "zh"
            # No transaction stays open while decoding and recognising: on SQLite an open write
            # would hold the database's one write lock for seconds, and the webhooks wait on it.
            session.commit()
            audio = decode(data, max_seconds=float(self.config["HOTLINE_MAX_RECORDING_SECONDS"]))
            try:
                model = self.registry.model_for(language)
            except NoModelError as exc:
                _finish(
                    session,
                    ident,
                    self.name,
                    status=VoicemailStatus.UNTRANSCRIBED,
                    status_reason=f"{exc}; once a model is there: {RETRY_COMMAND}",
                    duration=audio.seconds,
                )
                return VoicemailStatus.UNTRANSCRIBED
            _renew(session, ident, self.name, self.settings.lease_seconds)
            result = transcribe(
                audio, model, language=language, model_name=self.registry.source_for(language)
            )
            _finish(
                session,
                ident,
                self.name,
                status=VoicemailStatus.TRANSCRIBED,
                status_reason="",
                duration=audio.seconds,
                **transcript_columns(result),
            )
            index_message(session, ident, result.text)
            session.commit()
            return VoicemailStatus.TRANSCRIBED
        except AudioError as exc:
            _finish(
                session, ident, self.name, status=VoicemailStatus.FAILED, status_reason=exc.reason
            )
            return VoicemailStatus.FAILED
        except StorageError as exc:
            # Our own disk or database is at fault, not the message: never give it up.
            return self.retry_or_fail(session, message, str(exc), retry=True, forever=True)
        except (FetchError, ModelLoadError) as exc:
            retry = getattr(exc, "retry", True)
            return self.retry_or_fail(session, message, str(exc), retry=retry)

    def _fetch_and_keep(self, session: Session, message: Voicemail) -> None:
        config = self.config
        data, fmt = fetch_audio(message.recording_url, config)
        path = self.store.save(message.id, fmt, data)
        _write(
            session, message.id, self.name, audio_path=path, audio_format=fmt, audio_bytes=len(data)
        )
        set_committed_value(message, "audio_path", path)  # written above; nothing to flush
        if config["HOTLINE_DELETE_FROM_TWILIO"]:
            delete_recording(message.recording_url, config)

    def retry_or_fail(
        self,
        session: Session,
        message: Voicemail,
        reason: str,
        *,
        retry: bool,
        forever: bool = False,
    ) -> VoicemailStatus:
        """Leave the message for a later attempt, or mark it failed once retries are spent."""
        attempts = message.attempts
        if retry and (forever or attempts < self.settings.max_attempts):
            _finish(
                session,
                message.id,
                self.name,
                status=VoicemailStatus.PENDING,
                status_reason=f"attempt {attempts} failed: {reason}",
                next_attempt_at=utcnow() + backoff(attempts),
            )
            return VoicemailStatus.PENDING
        _finish(
            session,
            message.id,
            self.name,
            status=VoicemailStatus.FAILED,
            status_reason=f"gave up after {attempts} attempt(s): {reason}",
        )
        return VoicemailStatus.FAILED


def fetch_audio(recording_url: str, config: Any) -> tuple[bytes, str]:
    """The recording from Twilio and its audio format; a file that is not audio may be retried."""
    user, password = credentials(config)
    data = download_recording(
        recording_url,
        config=config,
        account_sid=user,
        auth_token=password,
        max_bytes=int(config["HOTLINE_MAX_RECORDING_BYTES"]),
    )
    fmt = sniff_format(data)
    if fmt is None:
        raise FetchError("the downloaded file is not audio", retry=True)
    return data, fmt


def make_job(app: Flask, registry: ModelRegistry | None = None) -> Job:
    """A Job for ``app``'s configuration (models shared through the app's registry)."""
    return Job(
        config=app.config,
        registry=registry or app.extensions["hotline.models"],
        store=store_for(app.config),
        settings=WorkerSettings.from_config(app.config),
        name=worker_name(),
    )


def work(app: Flask, *, burst: bool = False, stop: threading.Event | None = None) -> int:
    """Process messages until stopped (or, with ``burst``, until none is due); return how many."""
    stop = stop or threading.Event()
    job = make_job(app)
    done = 0
    with app.app_context():
        log.info("worker %s started", job.name)
        warn_of_missing_models(job.registry)
        while not stop.is_set():
            session = db.session
            try:
                message = claim_next(
                    session, job.name, job.settings.lease_seconds, job.settings.max_attempts
                )
                if message is None:
                    if burst and not _waiting(session):
                        break
                    stop.wait(job.settings.poll_seconds)
                    continue
                bind_call(message.call_sid)
                try:
                    status = job.process(session, message)
                except LeaseLost:
                    raise
                except Exception as exc:
                    # One bad job must not stop the worker: count it as a failed attempt.
                    log.exception("voicemail %s: unexpected failure", message.id)
                    session.rollback()
                    status = job.retry_or_fail(session, message, type(exc).__name__, retry=True)
                done += 1
                report_outcome(session, message.id, status)
            except LeaseLost as exc:
                log.warning("%s", exc)
            except Exception:
                log.exception("worker %s: unexpected failure", job.name)
                session.rollback()
                stop.wait(job.settings.poll_seconds)
            finally:
                bind_call("")
                db.session.remove()
        log.info("worker %s stopped after %s job(s)", job.name, done)
    return done


RETRY_COMMAND = "flask --app app voicemail retry --untranscribed"


def requeue(
    session: Session, statuses: list[VoicemailStatus], *, since: datetime | None = None
) -> int:
    """Queue messages in ``statuses`` for a fresh round of attempts; return how many.

    One UPDATE that only matches ended messages, so running it twice (or from two machines at
    once) queues each message once.
    """
    query = (
        update(Voicemail)
        .where(Voicemail.status.in_(statuses))
        .values(
            status=VoicemailStatus.PENDING,
            status_reason="queued again by hand",
            attempts=0,
            next_attempt_at=utcnow(),
            leased_by=None,
            lease_until=None,
        )
    )
    if since is not None:
        query = query.where(Voicemail.created_at >= since)
    count = session.execute(query).rowcount
    session.commit()
    return count


def report_outcome(session: Session, ident: int, status: VoicemailStatus) -> None:
    """Log how a message ended; a failed one at warning level, with its reason."""
    if status == VoicemailStatus.FAILED:
        reason = session.scalar(select(Voicemail.status_reason).where(Voicemail.id == ident))
        session.commit()
        log.warning("voicemail %s: failed: %s", ident, reason)
    else:
        log.info("voicemail %s: %s", ident, status)


def warn_of_missing_models(registry: ModelRegistry) -> None:
    """Say once, as the worker starts, which menu languages have no model to transcribe with."""
    missing = {code: registry.missing(code) for code in menu_languages()}
    for code, reason in missing.items():
        if reason:
            log.warning(
                "no speech model for the menu language %r: %s. Its messages are kept and wait "
                "as untranscribed; add a model (README, 'Speech models'), then run: %s",
                code, reason, RETRY_COMMAND,
            )  # fmt: skip


def _waiting(session: Session) -> bool:
    """Whether any message still waits (due later, or leased by another worker)."""
    found = session.scalar(select(Voicemail.id).where(Voicemail.status.in_(CLAIMABLE)).limit(1))
    session.commit()
    return found is not None


_embedded_lock = threading.Lock()


ELECTION_POLL_SECONDS = 5.0


def work_if_elected(app: Flask, stop: threading.Event) -> None:
    """Transcribe in this process while it holds the data folder's worker lock.

    Every web process starts this thread, and one of them transcribes: each would otherwise load
    its own models (hundreds of MiB each). The lock goes with the process, so when the one
    transcribing dies, another takes over within ELECTION_POLL_SECONDS.
    """
    with open(Path(app.config["HOTLINE_DATA_DIR"]) / "worker.lock", "a") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if stop.wait(ELECTION_POLL_SECONDS):
                    return
        work(app, stop=stop)


def start_embedded_worker(app: Flask) -> threading.Thread | None:
    """Start the worker thread inside this process, once (the single-machine default)."""
    with _embedded_lock:
        if app.extensions.get("hotline.worker_thread"):
            return None
        stop = threading.Event()
        thread = threading.Thread(
            target=work_if_elected, args=(app, stop), name="voicemail-worker", daemon=True
        )
        app.extensions["hotline.worker_thread"] = thread
        app.extensions["hotline.worker_stop"] = stop
        thread.start()
        return thread


def stop_embedded_worker(app: Flask, timeout: float = 30.0) -> None:
    """Ask the worker thread to finish its message and wait for it."""
    stop = app.extensions.get("hotline.worker_stop")
    thread = app.extensions.get("hotline.worker_thread")
    if stop is not None and thread is not None:
        stop.set()
        thread.join(timeout)
