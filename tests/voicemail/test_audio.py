"""Recognising, decoding and checking recordings, and imitating a phone line, with real ffmpeg."""

from __future__ import annotations

import io
import threading
import wave

import pytest
from pydub import AudioSegment
from pydub.generators import Sine

from tests.factories import export, tone
from tests.voicemail.conftest import Clip
from voicemail.audio import (
    AudioError,
    PcmAudio,
    decode,
    sniff_format,
    telephone_line,
    voiced_stretches,
)


def wav_header(data: bytes) -> tuple[int, int, int]:
    """(rate, channels, sample width) of a WAV file."""
    with wave.open(io.BytesIO(data)) as reader:
        return reader.getframerate(), reader.getnchannels(), reader.getsampwidth()


def assert_pcm(audio: PcmAudio, *, rate: int, seconds: float, tolerance: float = 0.02) -> None:
    """Mono 16-bit PCM at ``rate``, ``seconds`` long."""
    assert audio.sample_rate == rate
    assert len(audio.pcm) % 2 == 0
    assert audio.seconds == pytest.approx(len(audio.pcm) / 2 / rate)
    assert audio.seconds == pytest.approx(seconds, abs=tolerance)


@pytest.mark.parametrize(
    ("fmt", "expected"), [("wav", "wav"), ("mp3", "mp3"), ("flac", "flac"), ("ogg", "ogg")]
)
def test_sniff_format_recognises_audio_by_its_magic_bytes(fmt: str, expected: str) -> None:
    assert sniff_format(export(tone(0.5), fmt)) == expected


@pytest.mark.parametrize(
    "data", [b"", b"hello, this is not a recording", b"<html></html>", b"\x00" * 64]
)
def test_sniff_format_says_none_for_anything_else(data: bytes) -> None:
    assert sniff_format(data) is None


def test_sniff_format_on_a_real_flac_clip(clips: list[Clip]) -> None:
    assert sniff_format(clips[0].path.read_bytes()) == "flac"


def test_decode_brings_8k_phone_audio_to_16k_mono() -> None:
    audio = decode(export(tone(2.0, rate=8000), "wav"))
    assert_pcm(audio, rate=16_000, seconds=2.0)


def test_decode_mixes_stereo_down_and_brings_44k_to_16k() -> None:
    audio = decode(export(tone(1.5, rate=44_100, channels=2), "wav"))
    assert_pcm(audio, rate=16_000, seconds=1.5)


def test_decode_mp3() -> None:
    # MP3 frames pad the end by a few milliseconds.
    audio = decode(export(tone(2.0, rate=22_050), "mp3"))
    assert_pcm(audio, rate=16_000, seconds=2.0, tolerance=0.1)


def test_decode_a_real_flac_clip(clips: list[Clip]) -> None:
    clip = clips[0]
    assert_pcm(decode(clip.path.read_bytes()), rate=16_000, seconds=clip.seconds, tolerance=0.05)


def test_decode_ogg() -> None:
    assert_pcm(
        decode(export(tone(1.0, rate=16_000), "ogg")), rate=16_000, seconds=1.0, tolerance=0.05
    )


def reason_for(data: bytes, **options: float) -> str:
    """The reason decode() gives for refusing ``data``."""
    with pytest.raises(AudioError) as refused:
        decode(data, **options)
    assert str(refused.value) == refused.value.reason
    return refused.value.reason


def test_garbage_is_not_audio() -> None:
    assert (
        reason_for(b"this is a text file, not a voicemail" * 10) == "not audio: unrecognised format"
    )


def test_empty_bytes() -> None:
    assert "empty" in reason_for(b"")


def test_a_wav_without_samples_is_empty() -> None:
    assert reason_for(export(AudioSegment.empty().set_frame_rate(8000), "wav")) == (
        "the recording is empty (0 s)"
    )


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3"])
def test_a_file_cut_short_in_its_header_is_refused(fmt: str) -> None:
    reason = reason_for(export(tone(1.0), fmt)[:40])
    assert reason.startswith(("damaged or cut short", "the recording is empty"))


def test_a_wav_header_followed_by_garbage_is_refused() -> None:
    data = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\xff" * 200
    assert reason_for(data).startswith("damaged or cut short")


def test_silence_is_refused() -> None:
    reason = reason_for(export(AudioSegment.silent(duration=3000, frame_rate=8000), "wav"))
    assert reason.startswith("the recording is silent")


def test_a_faint_hiss_counts_as_silent() -> None:
    faint = Sine(440, sample_rate=8000).to_audio_segment(duration=2000, volume=-70.0)
    assert reason_for(export(faint, "wav")).startswith("the recording is silent")


def test_too_long_is_refused() -> None:
    assert reason_for(export(tone(3.0), "wav"), max_seconds=1.0) == (
        "too long to transcribe: 3 s, over the 1 s limit"
    )


def test_decode_from_several_threads_gives_the_same_audio() -> None:
    data = export(tone(1.0, rate=44_100), "mp3")
    results: list[PcmAudio] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(decode(data))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 4
    assert all(result == results[0] for result in results)


def test_telephone_line_gives_8k_mono_16bit_wav(clips: list[Clip]) -> None:
    clip = clips[-1]
    line = telephone_line(clip.path.read_bytes())
    assert sniff_format(line) == "wav"
    assert wav_header(line) == (8000, 1, 2)
    segment = AudioSegment.from_file(io.BytesIO(line), format="wav")
    assert segment.duration_seconds == pytest.approx(clip.seconds, abs=0.05)


def test_telephone_line_quantises_like_g711() -> None:
    line = AudioSegment.from_file(io.BytesIO(telephone_line(export(tone(1.0, rate=44_100), "wav"))))
    # mu-law keeps 256 levels; 16-bit PCM of a clean tone uses thousands.
    assert len(set(line.get_array_of_samples())) <= 256
    assert line.frame_rate == 8000


def test_one_side_of_a_conversation_splits_at_long_silences_only() -> None:
    """A side speaks, is silent while the other side talks, speaks again: two stretches, each
    padded a little; a short breath inside one stretch does not split it."""
    beep = Sine(300).to_audio_segment(duration=1500).apply_gain(-10)
    quiet = AudioSegment.silent(duration=500, frame_rate=16000)
    gap = AudioSegment.silent(duration=6000, frame_rate=16000)
    side = (quiet + beep + quiet + beep + gap + beep).set_frame_rate(16000).set_channels(1)
    audio = PcmAudio(side.raw_data, 16000, len(side) / 1000)
    [(a, b), (c, d)] = voiced_stretches(audio)
    assert a == pytest.approx(0.0, abs=0.05) and b == pytest.approx(4.5, abs=0.05)
    assert c == pytest.approx(9.5, abs=0.05) and d == pytest.approx(11.5, abs=0.05)
