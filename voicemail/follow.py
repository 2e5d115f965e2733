"""After a simulated call: follow the messages it left until each has ended, and say how."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from flask import Flask
from sqlalchemy import select

from ivr.database import db
from voicemail.models import Voicemail, VoicemailStatus
from voicemail.worker import work

ENDED = (VoicemailStatus.TRANSCRIBED, VoicemailStatus.UNTRANSCRIBED, VoicemailStatus.FAILED)
POLL_SECONDS = 0.5


def follow_messages(
    app: Flask,
    recording_sids: list[str],
    *,
    fetched: Callable[[str], bool],
    in_process: bool,
    timeout: float,
) -> Iterator[str]:
    """Lines that tell what became of each message, once it has ended or ``timeout`` passed.

    In process, this process transcribes them (a burst of the worker). Against a running
    service its worker does, while the simulator keeps serving the recordings; what this
    process reads is the database it is configured with, which is the service's when both run
    from the same folder with the same settings.
    """
    if in_process:
        work(app, burst=True)
    deadline = time.monotonic() + timeout
    waiting = list(recording_sids)
    with app.app_context():
        while True:
            rows = {
                m.recording_sid: m
                for m in db.session.scalars(
                    select(Voicemail).where(Voicemail.recording_sid.in_(waiting))
                )
            }
            for sid in list(waiting):
                message = rows.get(sid)
                if message is not None and message.status in ENDED:
                    waiting.remove(sid)
                    yield describe(message)
            db.session.rollback()
            if not waiting or time.monotonic() > deadline:
                break
            time.sleep(POLL_SECONDS)
    for sid in waiting:
        if sid not in rows and fetched(sid):
            yield (
                f"recording {sid}: fetched by the hotline, whose database is not this one: "
                "read the message in the inbox or through the API"
            )
        elif fetched(sid):
            yield f"recording {sid}: fetched, still being transcribed after {timeout:g} s"
        else:
            yield (
                f"recording {sid}: not fetched within {timeout:g} s: is a worker running "
                "(HOTLINE_WORKER=thread, or flask --app app voicemail work)?"
            )


def describe(message: Voicemail) -> str:
    """``message 12345678 (zh, 7.0 s): transcribed: …`` or the reason it was not."""
    head = f"message {message.case_number} ({message.language}, {message.duration or 0:.1f} s)"
    if message.status == VoicemailStatus.TRANSCRIBED:
        return f"{head}: transcribed: {message.transcript}"
    return f"{head}: {message.status}: {message.status_reason}"
