"""Character error rate of the Korean model on real speech: clean, through a phone line, and variants.

Run from the repository root:
``python bench/transcription_accuracy.py [--show] [--only TEXT] [SPEECH_FOLDER]``.
The clips and their reference text are read from ../shared/speech/ko (manifest.tsv) by default;
``--show`` also prints what the model wrote for each clip, ``--only`` runs the variants whose
name contains TEXT.
"""

from __future__ import annotations

import csv
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import vosk  # noqa: E402
from pydub import AudioSegment, effects  # noqa: E402

from voicemail.accuracy import character_error_rate  # noqa: E402
from voicemail.audio import PcmAudio, decode, resample, telephone_line  # noqa: E402
from voicemail.transcription import ModelRegistry, transcribe  # noqa: E402

Prepare = Callable[[bytes], PcmAudio]


def as_pcm(segment: AudioSegment) -> PcmAudio:
    """A mono 16-bit pydub segment as PcmAudio."""
    return PcmAudio(
        segment.raw_data, segment.frame_rate, segment.frame_count() / segment.frame_rate
    )


def as_segment(audio: PcmAudio) -> AudioSegment:
    """PcmAudio as a pydub segment."""
    return AudioSegment(data=audio.pcm, sample_width=2, frame_rate=audio.sample_rate, channels=1)


def clean_16k(data: bytes) -> PcmAudio:
    """The original clip, mono, brought to 16 kHz by ffmpeg's resampler."""
    return as_pcm(resample(AudioSegment.from_file(io.BytesIO(data)).set_channels(1), 16_000))


def phone_8k(data: bytes) -> PcmAudio:
    """Through the phone line, fed to Vosk at 8 kHz (Vosk resamples internally)."""
    return as_pcm(AudioSegment.from_file(io.BytesIO(telephone_line(data))))


def phone_16k_sinc(data: bytes) -> PcmAudio:
    """Through the phone line, upsampled to 16 kHz by ffmpeg (a proper low-pass resampler)."""
    return as_pcm(resample(as_segment(phone_8k(data)), 16_000))


def phone_16k_linear(data: bytes) -> PcmAudio:
    """Through the phone line, upsampled to 16 kHz by linear interpolation (audioop.ratecv)."""
    return as_pcm(as_segment(phone_8k(data)).set_frame_rate(16_000))


def phone_8k_normalised(data: bytes) -> PcmAudio:
    """Through the phone line, 8 kHz, peak-normalised to -1 dBFS."""
    return as_pcm(effects.normalize(as_segment(phone_8k(data)), headroom=1.0))


def phone_16k_linear_normalised(data: bytes) -> PcmAudio:
    """Through the phone line, peak-normalised to -1 dBFS, then linear to 16 kHz."""
    return as_pcm(as_segment(phone_8k_normalised(data)).set_frame_rate(16_000))


def band_limited(data: bytes) -> bytes:
    """``data`` through a 300-3400 Hz band-pass, as a stricter phone line would pass it."""
    out = io.BytesIO()
    AudioSegment.from_file(io.BytesIO(data)).export(
        out, format="wav", parameters=["-af", "highpass=f=300,lowpass=f=3400"]
    )
    return out.getvalue()


def narrow_phone_8k(data: bytes) -> PcmAudio:
    """A stricter line (300-3400 Hz band-pass before G.711), fed at 8 kHz."""
    return phone_8k(band_limited(data))


def narrow_phone_16k_linear(data: bytes) -> PcmAudio:
    """A stricter line (300-3400 Hz band-pass before G.711), then linear to 16 kHz."""
    return phone_16k_linear(band_limited(data))


def phone_decode(data: bytes) -> PcmAudio:
    """Through the phone line, then decode() as the worker does."""
    return decode(telephone_line(data))


VARIANTS: dict[str, Prepare] = {
    "clean, 16 kHz (ffmpeg)": clean_16k,
    "clean, decode()": decode,
    "phone, fed at 8 kHz": phone_8k,
    "phone, 16 kHz ffmpeg": phone_16k_sinc,
    "phone, 16 kHz linear": phone_16k_linear,
    "phone, 8 kHz normalised": phone_8k_normalised,
    "phone, normalised+linear": phone_16k_linear_normalised,
    "narrow phone, fed at 8 kHz": narrow_phone_8k,
    "narrow phone, 16k linear": narrow_phone_16k_linear,
    "phone, decode()": phone_decode,
}


def clips(folder: Path) -> list[tuple[str, str]]:
    """(file name, reference text) from the folder's manifest.tsv."""
    with (folder / "manifest.tsv").open(encoding="utf-8") as manifest:
        rows = csv.DictReader(manifest, delimiter="\t")
        return [(row["file"], row["reference_text"]) for row in rows]


def run_variant(
    prepare: Prepare, folder: Path, model: vosk.Model, *, show: bool
) -> tuple[dict[str, float], float]:
    """Per-clip CER and the real-time factor (recognition seconds per audio second)."""
    rates: dict[str, float] = {}
    busy = heard = 0.0
    for file, reference in clips(folder):
        audio = prepare((folder / file).read_bytes())
        result = transcribe(audio, model, language="ko")
        rates[file] = character_error_rate(reference, result.raw_text)
        busy += result.elapsed
        heard += audio.seconds
        if show:
            print(f"    {file}: {result.raw_text}")
    return rates, busy / heard


def main(argv: list[str]) -> int:
    """Print per-clip and mean CER and the real-time factor for every variant."""
    args = argv[1:]
    show = "--show" in args
    only = args[args.index("--only") + 1] if "--only" in args[:-1] else ""
    args = [a for a in args if a not in ("--show", "--only", only)]
    folder = Path(args[0]) if args else REPO.parent / "shared" / "speech" / "ko"
    if not (folder / "manifest.tsv").is_file():
        print(f"no speech clips at {folder} (manifest.tsv missing)", file=sys.stderr)
        return 2
    registry = ModelRegistry({})
    started = time.perf_counter()
    model = registry.model_for("ko")
    print(f"model: {registry.source_for('ko')} (loaded in {time.perf_counter() - started:.1f} s)")
    names = [file for file, _ in clips(folder)]
    table: dict[str, tuple[dict[str, float], float]] = {}
    for name, prepare in VARIANTS.items():
        if only not in name:
            continue
        rates, rtf = table[name] = run_variant(prepare, folder, model, show=show)
        print(
            f"{name:<26} mean CER {statistics.mean(rates.values()):.3f}  RTF {rtf:.3f}", flush=True
        )
    print()
    short = [n.split(".")[0].removeprefix("zeroth_104_003_").removeprefix("emo_") for n in names]
    print(f"{'variant':<26} {'mean':>6} {'RTF':>6} " + " ".join(f"{s:>8}" for s in short))
    for name, (rates, rtf) in table.items():
        cells = " ".join(f"{rates[n]:>8.3f}" for n in names)
        print(f"{name:<26} {statistics.mean(rates.values()):>6.3f} {rtf:>6.3f} {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
