"""Audio for transcription: recognise, decode and check recordings; imitate a phone line."""

from __future__ import annotations

import io
import json
import math
import subprocess
import tempfile
import warnings
import wave
from dataclasses import dataclass, field
from pathlib import Path

with warnings.catch_warnings():
    # pydub imports audioop, deprecated since Python 3.11 (audioop-lts replaces it on 3.13+);
    # nothing we can change, and it must not fail a `filterwarnings = error` test run.
    warnings.filterwarnings("ignore", message=".*audioop.*", category=DeprecationWarning)
    import audioop

    from pydub import AudioSegment

# Vosk is fed 16 kHz, the rate its models are trained on. Phone audio (8 kHz) is brought up with
# pydub's set_frame_rate (audioop.ratecv, plain interpolation): on real Korean speech through a
# G.711 line that gives CER 0.23, against 0.38 fed at 8 kHz and 0.44 upsampled by ffmpeg's proper
# filter; the spectral images it leaves above 4 kHz fill bands the model expects to hear
# (docs/transcription.md, bench/transcription_accuracy.py).
VOSK_RATE = 16_000
# A recording whose loudest sample is below this level holds no speech worth transcribing
# (a real voice on a phone line peaks around -20 dBFS to -3 dBFS).
SILENCE_DBFS = -50.0
TELEPHONE_RATE = 8_000
FFMPEG_TIMEOUT = 600.0
PROBE_TIMEOUT = 30.0
# Longer recordings are kept but not transcribed (HOTLINE_MAX_RECORDING_SECONDS). Twilio's Record
# stops at the menu's max_length, but a broken or hostile media host can send hours, and decoding
# them would hold hundreds of megabytes of samples.
DEFAULT_MAX_SECONDS = 600.0


class AudioError(Exception):
    """A recording that cannot be transcribed; ``reason`` says why in words for an agent."""

    def __init__(self, reason: str, *, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class SilentAudio(AudioError):
    """A recording (or one channel of it) that holds no speech."""


@dataclass(frozen=True)
class PcmAudio:
    """Decoded audio: mono signed 16-bit little-endian samples."""

    pcm: bytes = field(repr=False)
    sample_rate: int
    seconds: float


def sniff_format(data: bytes) -> str | None:
    """The audio container of ``data`` from its magic bytes ("wav", "mp3" …), or None."""
    head = data[:16]
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3":
        return "mp3"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:5] == b"#!AMR":
        return "amr"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b".snd":
        return "au"
    if head[:4] == b"caff":
        return "caf"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
        if layer == 0:
            return "aac" if head[1] & 0xF6 == 0xF0 else None
        if version != 1:
            return "mp3"
    return None


def spoken_length(seconds: float) -> str:
    """A length as an agent reads it: 4.5 s, 12 min 5 s, 2 h 0 min."""
    if seconds < 60:
        return f"{seconds:.3g} s"
    whole = round(seconds)
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(whole, 3600)
    return f"{hours} h {rest // 60} min"


def decode(
    data: bytes, *, max_seconds: float = DEFAULT_MAX_SECONDS, channel: int | None = None
) -> PcmAudio:
    """Decode a recording to mono 16-bit PCM at 16 kHz for Vosk; AudioError if it is unfit.

    Recordings longer than ``max_seconds`` (HOTLINE_MAX_RECORDING_SECONDS) are refused from
    their headers, before anything is decoded. ``channel`` (0 first) keeps one channel of a
    multi-channel recording instead of mixing them (a conversation: each side on its own).
    """
    if not data:
        raise AudioError("the recording is empty (0 bytes)")
    fmt = sniff_format(data)
    if fmt is None:
        raise AudioError("not audio: unrecognised format")
    segment = _pcm_wav(data, max_seconds, channel) if fmt == "wav" else None
    if segment is None:
        segment = _ffmpeg_to_mono16(data, limit=max_seconds, what=fmt, channel=channel)
    seconds = segment.frame_count() / segment.frame_rate
    if segment.frame_count() == 0:
        raise AudioError("the recording is empty (0 s)")
    if seconds > max_seconds:
        # Headers that understated the length: decoding stopped just past the limit.
        raise AudioError(f"too long to transcribe: over the {spoken_length(max_seconds)} limit")
    loudest = segment.max_dBFS
    if loudest == float("-inf"):
        raise SilentAudio("the recording is silent (no sound at all)")
    if loudest < SILENCE_DBFS:
        raise SilentAudio(
            f"the recording is silent (loudest point {loudest:.0f} dBFS, "
            f"below the {SILENCE_DBFS:.0f} dBFS threshold)"
        )
    if segment.frame_rate != VOSK_RATE:
        segment = segment.set_frame_rate(VOSK_RATE)
    return PcmAudio(
        pcm=segment.raw_data,
        sample_rate=segment.frame_rate,
        seconds=segment.frame_count() / segment.frame_rate,
    )


def _pcm_wav(data: bytes, limit: float, channel: int | None = None) -> AudioSegment | None:
    """A 16-bit PCM WAV, Twilio's recording format, read in-process; None for any other.

    The same samples ffmpeg would give, without starting a process per message (about 60 ms,
    most of the worker's cost beyond recognition: bench/transcription.py). Mono, or the one
    ``channel`` asked for of a stereo file (a conversation's side).
    """
    try:
        with wave.open(io.BytesIO(data)) as wav:
            channels = wav.getnchannels()
            wanted = channels == 1 or (channels == 2 and channel is not None)
            if not wanted or wav.getsampwidth() != 2 or wav.getframerate() <= 0:
                return None
            if channel is not None and channel >= channels:
                raise AudioError(f"the recording has no channel {channel + 1}")
            rate = wav.getframerate()
            refuse_if_longer(wav_seconds(data), limit)
            raw = wav.readframes(min(wav.getnframes(), int((limit + 1.0) * rate)))
    except (wave.Error, EOFError):
        return None
    raw = raw[: len(raw) // (2 * channels) * 2 * channels]
    if channels == 2:
        raw = audioop.tomono(raw, 2, 1.0, 0.0) if channel == 0 else audioop.tomono(raw, 2, 0.0, 1.0)
    return AudioSegment(data=raw, sample_width=2, frame_rate=rate, channels=1)


def resample(segment: AudioSegment, rate: int) -> AudioSegment:
    """``segment`` (mono 16-bit) at ``rate``, resampled by ffmpeg with a proper low-pass filter."""
    command = [
        AudioSegment.converter, "-nostdin", "-v", "error",
        "-f", "s16le", "-ar", str(segment.frame_rate), "-ac", "1", "-i", "pipe:0",
        "-ar", str(rate), "-f", "s16le", "pipe:1",
    ]  # fmt: skip
    out = _run(command, stdin=segment.raw_data, what="audio")
    return AudioSegment(data=out, sample_width=2, frame_rate=rate, channels=1)


def telephone_line(data: bytes) -> bytes:
    """``data`` as a Twilio recording of a call holds it: 8 kHz mono through G.711 mu-law, 16-bit WAV."""
    segment = _ffmpeg_to_mono16(data, limit=None, what=sniff_format(data) or "audio")
    if segment.frame_rate != TELEPHONE_RATE:
        # A phone line band-limits: no aliasing down to 8 kHz, so ffmpeg's filter, not audioop.
        segment = resample(segment, TELEPHONE_RATE)
    companded = audioop.ulaw2lin(audioop.lin2ulaw(segment.raw_data, 2), 2)
    line = AudioSegment(data=companded, sample_width=2, frame_rate=TELEPHONE_RATE, channels=1)
    out = io.BytesIO()
    line.export(out, format="wav")
    return out.getvalue()


def _ffmpeg_to_mono16(
    data: bytes, *, limit: float | None, what: str, channel: int | None = None
) -> AudioSegment:
    # Our own ffmpeg call rather than AudioSegment.from_file: pydub asks ffmpeg for 8-bit output
    # when a WAV holds mu-law, and cannot cap the duration or mix down in the same pass.
    with tempfile.TemporaryDirectory(prefix="hotline-audio-") as folder:
        source, target = Path(folder, "in"), Path(folder, "out.wav")
        source.write_bytes(data)
        if limit is not None:
            refuse_if_longer(wav_seconds(data) if what == "wav" else probe_seconds(source), limit)
        command = [AudioSegment.converter, "-nostdin", "-v", "error", "-i", str(source), "-vn"]
        command += ["-map", "0:a:0", "-ac", "1", "-acodec", "pcm_s16le", "-f", "wav"]
        if channel is not None:
            command += ["-af", f"pan=mono|c0=c{channel}"]
        if limit is not None:
            # Headers can lie: the cap holds while decoding, so hours never expand in memory.
            command += ["-t", f"{limit + 1.0:.3f}"]
        _run([*command, str(target)], stdin=None, what=what)
        try:
            # Bytes, not a path: pydub leaves a path's file handle open (a ResourceWarning).
            return AudioSegment.from_file(io.BytesIO(target.read_bytes()), format="wav")
        except Exception as exc:
            raise AudioError(f"{what} file could not be decoded", detail=str(exc)) from exc


def refuse_if_longer(length: float | None, limit: float) -> None:
    """AudioError when the headers say the recording is longer than ``limit`` seconds."""
    if length is not None and length > limit:
        raise AudioError(
            f"too long to transcribe: {spoken_length(length)}, over the {spoken_length(limit)} limit"
        )


def wav_seconds(data: bytes) -> float | None:
    """A WAV file's length from its header and size, in-process (Twilio records WAV).

    The bytes that arrived bound it: a streamed WAV may claim a data size it never sent.
    """
    try:
        with wave.open(io.BytesIO(data)) as wav:
            frame = wav.getsampwidth() * wav.getnchannels()
            frames = min(wav.getnframes(), len(data) // max(frame, 1))
            return frames / wav.getframerate() if wav.getframerate() else None
    except (wave.Error, EOFError, ValueError):
        return None  # not a PCM WAV ffmpeg-readable the usual way: the decoding cap still holds


def probe_seconds(path: Path) -> float | None:
    """The length ffprobe reads from a file's headers, without decoding; None if it cannot tell."""
    command = ["ffprobe", "-v", "error", "-select_streams", "a:0", "-of", "json",
               "-show_entries", "stream=duration:format=duration", str(path)]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, timeout=PROBE_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None  # the cap while decoding still holds
    if done.returncode != 0:
        return None  # decoding says what is wrong, in the same words as for any damaged file
    try:
        found = json.loads(done.stdout)
    except ValueError:
        return None
    streams = found.get("streams") or [{}]
    for raw in (streams[0].get("duration"), found.get("format", {}).get("duration")):
        try:
            seconds = float(raw)
        except (TypeError, ValueError):
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def _run(command: list[str], *, stdin: bytes | None, what: str) -> bytes:
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, timeout=FFMPEG_TIMEOUT)
    except FileNotFoundError as exc:
        raise AudioError("ffmpeg is not installed on this machine", detail=str(exc)) from exc
    except subprocess.TimeoutExpired as exc:
        raise AudioError(f"decoding took longer than {FFMPEG_TIMEOUT:g} s") from exc
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip()
        if "does not contain any stream" in detail or "matches no streams" in detail:
            raise AudioError(f"not audio: the {what} file holds no sound", detail=detail)
        raise AudioError(
            f"damaged or cut short: the {what} file could not be decoded", detail=detail
        )
    return done.stdout


# A pause this long in one side of a conversation ends a stretch of speech: the other side is
# talking, or nobody is. Each stretch is recognised on its own, as a message is (measured in
# bench/transcription_conversations.py: recognising the whole channel, the other side's long
# silences in it made the agent's side read worse than the same speech as a message).
STRETCH_GAP_MS = 2000
STRETCH_PAD_MS = 500
# Quieter than this is silence: a phone line's own noise sits far below it, speech far above.
SILENCE_DBFS = -45.0


def voiced_stretches(audio: PcmAudio) -> list[tuple[float, float]]:
    """The stretches of ``audio`` that hold sound, as (start, end) seconds, padded a little."""
    from pydub.silence import detect_nonsilent

    segment = AudioSegment(audio.pcm, sample_width=2, frame_rate=audio.sample_rate, channels=1)
    found = detect_nonsilent(segment, min_silence_len=STRETCH_GAP_MS,
                             silence_thresh=SILENCE_DBFS, seek_step=10)  # fmt: skip
    return [
        (max(0, start - STRETCH_PAD_MS) / 1000, min(len(segment), end + STRETCH_PAD_MS) / 1000)
        for start, end in found
    ]


def stretch(audio: PcmAudio, start: float, end: float) -> PcmAudio:
    """The part of ``audio`` from ``start`` to ``end`` seconds."""
    first, last = (int(t * audio.sample_rate) * 2 for t in (start, end))
    pcm = audio.pcm[first:last]
    return PcmAudio(
        pcm=pcm, sample_rate=audio.sample_rate, seconds=len(pcm) / 2 / audio.sample_rate
    )
