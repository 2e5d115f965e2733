"""The transcription worker: claims pending voice messages and recorded conversations with a
lease, keeps their audio and transcribes them.

The voicemail (or conversation_recordings) row is the job. A worker claims the oldest due row by compare-and-set on its
lease (with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so workers do not queue behind each other),
and writes its result only while it still holds the lease: a worker that died leaves a lease that
expires and another takes the job over, and a late writer can never record a second transcript.
Messages and conversations take turns, so a backlog of one never starves the other.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
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
from voicemail import retention
from voicemail.audio import AudioError, PcmAudio, SilentAudio, decode, sniff_format
from voicemail.models import ConversationRecording, Voicemail, VoicemailStatus
from voicemail.quality_checks import check_after_transcription
from voicemail.search import index_conversation, index_message
from voicemail.storage import AudioStore, StorageError, read_audio, store_for
from voicemail.transcription import (
    ModelLoadError,
    ModelRegistry,
    NoModelError,
    Transcript,
    Word,
    readable_text,
    transcribe,
    transcribe_side,
)

log = logging.getLogger(__name__)

CLAIMABLE = (VoicemailStatus.PENDING, VoicemailStatus.TRANSCRIBING)
# The rows that are jobs: the worker serves them in turn.
JobRow = Voicemail | ConversationRecording
Kind = type[Voicemail] | type[ConversationRecording]
KINDS: tuple[Kind, ...] = (Voicemail, ConversationRecording)
# Channel 1 of a conversation's recording is the customer, channel 2 what they hear: the agent.
SPEAKERS = ("customer", "agent")


def kind_name(kind: Kind) -> str:
    """How logs and reasons name a job of ``kind``."""
    return "conversation" if kind is ConversationRecording else "voicemail"


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
    nice: int = 10

    @classmethod
    def from_config(cls, config: Any) -> WorkerSettings:
        """Read the HOTLINE_WORKER_* settings."""
        return cls(
            lease_seconds=float(config["HOTLINE_WORKER_LEASE"]),
            max_attempts=int(config["HOTLINE_WORKER_MAX_ATTEMPTS"]),
            poll_seconds=float(config["HOTLINE_WORKER_POLL"]),
            nice=int(config["HOTLINE_WORKER_NICE"]),
        )


@contextlib.contextmanager
def yielding_cpu(nice: int) -> Iterator[None]:
    """Lower the calling thread's priority by ``nice`` meanwhile (Linux keeps a nice value per
    thread; ffmpeg started from it inherits it): on cores shared with the web processes,
    webhooks, which a caller waits on, go first and transcription takes what is left."""
    thread = threading.get_native_id()
    before = os.getpriority(os.PRIO_PROCESS, thread) if nice > 0 else None
    if before is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, thread, before + nice)
        except OSError as exc:
            log.warning("could not lower the worker's priority: %s", exc)
            before = None
    try:
        yield
    finally:
        if before is not None:
            # Back up takes privilege a deployed worker lacks; it ends here anyway.
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, thread, before)


def worker_name() -> str:
    """A name unique to this worker: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def backoff(attempts: int) -> timedelta:
    """Wait before retry ``attempts``: 2 s, 4 s, 8 s … up to 10 minutes."""
    return timedelta(seconds=min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_CAP))


def claim_next(
    session: Session,
    worker: str,
    lease_seconds: float,
    max_attempts: int,
    kind: Kind = Voicemail,
) -> Any:
    """Lease the oldest due job of ``kind`` (messages by default) to ``worker``; None when
    nothing is due.

    The attempt is counted as the lease is taken, so a message whose worker dies with it (out
    of memory, a crash) uses its attempts up too: taken over once they are spent, it fails.
    """
    now = utcnow()
    due = (
        select(kind.id, kind.status, kind.attempts)
        .where(
            kind.status.in_(CLAIMABLE),
            kind.next_attempt_at <= now,
            or_(kind.lease_until.is_(None), kind.lease_until < now),
        )
        .order_by(kind.next_attempt_at, kind.id)
        .limit(5)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    for candidate, status, attempts in session.execute(due).all():
        takeover = status == VoicemailStatus.TRANSCRIBING  # its worker stopped holding it
        if takeover and attempts >= max_attempts:
            _give_up_on_poison(session, kind, candidate, attempts, now)
            continue
        claimed = session.execute(
            update(kind)
            .where(
                kind.id == candidate,
                kind.status.in_(CLAIMABLE),
                or_(kind.lease_until.is_(None), kind.lease_until < now),
            )
            .values(
                status=VoicemailStatus.TRANSCRIBING,
                leased_by=worker,
                lease_until=now + timedelta(seconds=lease_seconds),
                attempts=kind.attempts + 1,
            )
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            session.commit()
            return session.get(kind, candidate)
    session.commit()
    return None


def claim_any(
    session: Session, worker: str, settings: WorkerSettings, first: int = 0
) -> JobRow | None:
    """Lease a due job, trying the kinds from ``KINDS[first]`` on; None when none is due."""
    for turn in range(len(KINDS)):
        kind = KINDS[(first + turn) % len(KINDS)]
        found = claim_next(session, worker, settings.lease_seconds, settings.max_attempts, kind)
        if found is not None:
            return found  # type: ignore[no-any-return]
    return None


def _give_up_on_poison(
    session: Session, kind: Kind, ident: int, attempts: int, now: datetime
) -> None:
    """Fail a job whose workers kept dying on it, instead of taking it over once more."""
    what = "recording" if kind is ConversationRecording else "message"
    failed = session.execute(
        update(kind)
        .where(
            kind.id == ident,
            kind.status == VoicemailStatus.TRANSCRIBING,
            kind.lease_until < now,
        )
        .values(
            status=VoicemailStatus.FAILED,
            status_reason=(
                f"gave up after {attempts} attempt(s): the worker stopped while transcribing "
                f"this {what} (killed, out of memory or crashed)"
            ),
            leased_by=None,
            lease_until=None,
        )
    )
    if failed.rowcount == 1:  # type: ignore[attr-defined]
        log.warning(
            "%s %s failed: the worker stopped while transcribing it, %s attempt(s) spent",
            kind_name(kind),
            ident,
            attempts,
        )
    session.commit()


def _write(session: Session, kind: Kind, ident: int, worker: str, **values: Any) -> None:
    """Write to a job only while this worker holds its lease."""
    done = session.execute(
        update(kind)
        .where(
            kind.id == ident,
            kind.leased_by == worker,
            kind.status == VoicemailStatus.TRANSCRIBING,
        )
        .values(**values)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise LeaseLost(f"{kind_name(kind)} {ident} was taken over")
    session.commit()


def _renew(session: Session, kind: Kind, ident: int, worker: str, lease_seconds: float) -> None:
    lease = utcnow() + timedelta(seconds=lease_seconds)
    _write(session, kind, ident, worker, lease_until=lease)


def _finish(session: Session, kind: Kind, ident: int, worker: str, **values: Any) -> None:
    _write(session, kind, ident, worker, leased_by=None, lease_until=None, **values)


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


@dataclass
class Job:
    """Everything one worker needs to process messages and conversations."""

    config: Any
    registry: ModelRegistry
    store: AudioStore
    settings: WorkerSettings
    name: str
    conversation_store: AudioStore | None = None

    def process(self, session: Session, job: JobRow) -> VoicemailStatus:
        """Fetch, keep, decode and transcribe one claimed job; return its new status."""
        kind, ident = type(job), job.id
        conversation = isinstance(job, ConversationRecording)
        try:
            if job.audio_path is None:
                self._fetch_and_keep(session, job)
            data = read_audio(self.config, job.audio_path or "", conversations=conversation)
            language = job.language or "zh"
            # No transaction stays open while decoding and recognising: on SQLite an open write
            # would hold the database's one write lock for seconds, and the webhooks wait on it.
            session.commit()
            max_seconds = float(self.config["HOTLINE_MAX_RECORDING_SECONDS"])
            if isinstance(job, ConversationRecording):
                sides = decode_sides(data, max_seconds, job.channels, job.customer_channel)
            else:
                sides = [decode(data, max_seconds=max_seconds)]
            seconds = max(side.seconds for side in sides if side is not None)
            try:
                model = self.registry.model_for(language)
            except NoModelError as exc:
                _finish(
                    session,
                    kind,
                    ident,
                    self.name,
                    status=VoicemailStatus.UNTRANSCRIBED,
                    status_reason=f"{exc}; once a model is there: {RETRY_COMMAND}",
                    duration=seconds,
                )
                return VoicemailStatus.UNTRANSCRIBED
            _renew(session, kind, ident, self.name, self.settings.lease_seconds)
            source = self.registry.source_for(language)
            recognise = transcribe_side if conversation else transcribe
            heard = [
                recognise(side, model, language=language, model_name=source)
                if side is not None
                else None
                for side in sides
            ]
            text, said = what_was_said(job, heard)
            _finish(
                session,
                kind,
                ident,
                self.name,
                status=VoicemailStatus.TRANSCRIBED,
                status_reason="",
                duration=seconds,
                transcript=text,
                raw_transcript="\n".join(result.raw_text if result else "" for result in heard),
                model=source[:255],
                transcription_seconds=sum(result.elapsed for result in heard if result),
                transcribed_at=utcnow(),
                **said,
            )
            (index_conversation if conversation else index_message)(session, ident, text)
            session.commit()
            check_after_transcription(session, ident, conversation=conversation)
            return VoicemailStatus.TRANSCRIBED
        except AudioError as exc:
            _finish(
                session,
                kind,
                ident,
                self.name,
                status=VoicemailStatus.FAILED,
                status_reason=exc.reason,
            )
            return VoicemailStatus.FAILED
        except StorageError as exc:
            # Our own disk or database is at fault, not the recording: never give it up.
            return self.retry_or_fail(session, job, str(exc), retry=True, forever=True)
        except (FetchError, ModelLoadError) as exc:
            retry = getattr(exc, "retry", True)
            return self.retry_or_fail(session, job, str(exc), retry=retry)

    def _fetch_and_keep(self, session: Session, job: JobRow) -> None:
        config = self.config
        data, fmt = fetch_audio(job.recording_url, config)
        store = self.store
        if isinstance(job, ConversationRecording):
            store = self.conversation_store or store_for(config, conversations=True)
        path = store.save(job.id, fmt, data)
        _write(
            session,
            type(job),
            job.id,
            self.name,
            audio_path=path,
            audio_format=fmt,
            audio_bytes=len(data),
        )
        set_committed_value(job, "audio_path", path)  # written above; nothing to flush
        if config["HOTLINE_DELETE_FROM_TWILIO"]:
            delete_recording(job.recording_url, config)

    def retry_or_fail(
        self,
        session: Session,
        job: JobRow,
        reason: str,
        *,
        retry: bool,
        forever: bool = False,
    ) -> VoicemailStatus:
        """Leave the job for a later attempt, or mark it failed once retries are spent."""
        attempts = job.attempts
        if retry and (forever or attempts < self.settings.max_attempts):
            _finish(
                session,
                type(job),
                job.id,
                self.name,
                status=VoicemailStatus.PENDING,
                status_reason=f"attempt {attempts} failed: {reason}",
                next_attempt_at=utcnow() + backoff(attempts),
            )
            return VoicemailStatus.PENDING
        _finish(
            session,
            type(job),
            job.id,
            self.name,
            status=VoicemailStatus.FAILED,
            status_reason=f"gave up after {attempts} attempt(s): {reason}",
        )
        return VoicemailStatus.FAILED


def what_was_said(job: JobRow, heard: list[Transcript | None]) -> tuple[str, dict[str, Any]]:
    """The transcript to store and search, and the job's own columns: a message's words, a
    conversation's turns."""
    if isinstance(job, ConversationRecording):
        turns = build_turns(heard)
        return "\n".join(turn["text"] for turn in turns), {"turns": turns}
    [result] = heard
    assert result is not None  # a message's one side decoded, or it failed as silent
    return result.text, {"words": [vars(word) for word in result.words]}


def decode_sides(
    data: bytes, max_seconds: float, channels: int, customer_channel: int = 1
) -> list[PcmAudio | None]:
    """Each side of a conversation decoded on its own (customer, agent); None for a side that
    said nothing. A recording silent on both sides fails as a silent message does."""
    sides: list[PcmAudio | None] = []
    silent: SilentAudio | None = None
    # The customer's channel first; one mixed channel is read as the customer's side.
    order = [0] if channels < 2 else [0, 1] if customer_channel == 1 else [1, 0]
    for channel in order:
        try:
            sides.append(decode(data, max_seconds=max_seconds, channel=channel))
        except SilentAudio as exc:
            silent = silent or exc
            sides.append(None)
    if all(side is None for side in sides):
        raise silent or SilentAudio("the recording is silent (no sound at all)")
    return sides


def build_turns(heard: list[Transcript | None]) -> list[dict[str, Any]]:
    """Both sides' words in time order, as turns: a turn is a run of one speaker's words.

    Each turn's text is made readable as a message's transcript is (Chinese without spaces,
    numbers as digits); its words stay raw, with their times.
    """
    language = next((result.language for result in heard if result is not None), "")
    said: list[tuple[float, int, Word]] = [
        (word.start, side, word)
        for side, result in enumerate(heard)
        if result is not None
        for word in result.words
    ]
    said.sort(key=lambda item: (item[0], item[1]))
    runs: list[tuple[int, list[Word]]] = []
    for _start, side, word in said:
        if runs and runs[-1][0] == side:
            runs[-1][1].append(word)
        else:
            runs.append((side, [word]))
    return [
        {
            "speaker": SPEAKERS[side],
            "start": words[0].start,
            "end": max(word.end for word in words),
            "text": readable_text(" ".join(word.word for word in words), language),
            "words": [vars(word) for word in words],
        }
        for side, words in runs
    ]


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
        conversation_store=store_for(app.config, conversations=True),
        settings=WorkerSettings.from_config(app.config),
        name=worker_name(),
    )


def work(app: Flask, *, burst: bool = False, stop: threading.Event | None = None) -> int:
    """Process messages and conversations until stopped (or, with ``burst``, until none is
    due); return how many."""
    stop = stop or threading.Event()
    job = make_job(app)
    done = 0
    first = 0  # the kind tried first: the other one after each job, so neither starves
    with yielding_cpu(job.settings.nice), app.app_context():
        log.info("worker %s started", job.name)
        warn_of_missing_models(job.registry)
        while not stop.is_set():
            session = db.session
            try:
                retention.maybe_sweep(app, session)  # at most every few minutes
                message = claim_any(session, job.name, job.settings, first)
                if message is None:
                    if burst and not _waiting(session):
                        break
                    stop.wait(job.settings.poll_seconds)
                    continue
                first = (KINDS.index(type(message)) + 1) % len(KINDS)
                kind = type(message)
                bind_call(message.call_sid)
                try:
                    status = job.process(session, message)
                except LeaseLost:
                    raise
                except Exception as exc:
                    # One bad job must not stop the worker: count it as a failed attempt.
                    log.exception("%s %s: unexpected failure", kind_name(kind), message.id)
                    session.rollback()
                    status = job.retry_or_fail(session, message, type(exc).__name__, retry=True)
                done += 1
                report_outcome(session, message.id, status, kind)
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
    """Queue messages and conversations in ``statuses`` for a fresh round of attempts; return
    how many.

    One UPDATE per kind that only matches ended jobs, so running it twice (or from two machines
    at once) queues each job once.
    """
    count = 0
    for kind in KINDS:
        query = (
            update(kind)
            .where(kind.status.in_(statuses))
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
            when = (
                ConversationRecording.started_at
                if kind is ConversationRecording
                else Voicemail.created_at
            )
            query = query.where(when >= since)
        count += session.execute(query).rowcount  # type: ignore[attr-defined]
    session.commit()
    return count


def report_outcome(
    session: Session, ident: int, status: VoicemailStatus, kind: Kind = Voicemail
) -> None:
    """Log how a job ended; a failed one at warning level, with its reason."""
    if status == VoicemailStatus.FAILED:
        reason = session.scalar(select(kind.status_reason).where(kind.id == ident))
        session.commit()
        log.warning("%s %s: failed: %s", kind_name(kind), ident, reason)
    else:
        log.info("%s %s: %s", kind_name(kind), ident, status)


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
    """Whether any job still waits (due later, or leased by another worker)."""
    found = any(
        session.scalar(select(kind.id).where(kind.status.in_(CLAIMABLE)).limit(1)) is not None
        for kind in KINDS
    )
    session.commit()
    return found


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
