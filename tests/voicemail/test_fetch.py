"""Downloading recordings from a real HTTP server on loopback that behaves like Twilio's."""

from __future__ import annotations

import io
import math
import struct
import wave
from collections.abc import Iterator

import pytest

from tests.voicemail.media_server import MediaHost, media_host, recording_url
from voicemail.fetch import FetchError, download_recording

SID = "AC" + "0" * 32
TOKEN = "media-token"
REC = "RE" + "a" * 32


def tone_wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A short 440 Hz tone as a WAV file."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(int(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


@pytest.fixture
def host() -> Iterator[MediaHost]:
    with media_host(SID, TOKEN) as served:
        served.files[REC] = tone_wav()
        yield served


def fetch(host: MediaHost, **options: object) -> tuple[bytes, str]:
    return download_recording(
        recording_url(host, REC),
        account_sid=SID,
        auth_token=options.pop("token", TOKEN),  # type: ignore[arg-type]
        hosts={host.base_url.removeprefix("http://")},
        **options,  # type: ignore[arg-type]
    )


def test_downloads_with_basic_auth(host: MediaHost) -> None:
    data, fmt = fetch(host)
    assert fmt == "wav"
    assert data == host.files[REC]


def test_wrong_credentials_are_not_retried(host: MediaHost) -> None:
    with pytest.raises(FetchError) as error:
        fetch(host, token="wrong")
    assert error.value.retry is False
    assert "refused the credentials (HTTP 401)" in error.value.reason
    assert [status for _, status in host.hits] == [401]


def test_not_ready_yet_is_retried_until_the_file_is_there(host: MediaHost) -> None:
    host.not_ready[REC] = 2
    data, _ = fetch(host, quick_retries=2)
    assert data == host.files[REC]
    assert [status for _, status in host.hits] == [404, 404, 200]


def test_still_missing_after_quick_retries_asks_for_a_later_retry(host: MediaHost) -> None:
    host.not_ready[REC] = 10
    with pytest.raises(FetchError) as error:
        fetch(host, quick_retries=1)
    assert error.value.retry is True
    assert "HTTP 404" in error.value.reason


def test_bad_bytes_once_then_audio(host: MediaHost) -> None:
    host.bad_bytes[REC] = 1
    with pytest.raises(FetchError, match="not audio") as error:
        fetch(host)
    assert error.value.retry is True
    assert fetch(host)[0] == host.files[REC]


def test_size_limit(host: MediaHost) -> None:
    with pytest.raises(FetchError, match="larger than 100 bytes") as error:
        fetch(host, max_bytes=100)
    assert error.value.retry is False


def test_credentials_never_go_to_another_host(host: MediaHost) -> None:
    with pytest.raises(FetchError, match="not Twilio's"):
        download_recording(
            recording_url(host, REC), account_sid=SID, auth_token=TOKEN, hosts={"api.twilio.com"}
        )
    assert host.hits == []
