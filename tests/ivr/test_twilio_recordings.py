"""Downloading recordings from a real HTTP server on loopback that behaves like Twilio's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ivr.twilio.rest import FetchError, credentials_refused, download_recording
from tests.factories import tone_wav
from tests.media_server import MediaHost, media_host, recording_url

SID = "AC" + "0" * 32
TOKEN = "media-token"
REC = "RE" + "a" * 32


@pytest.fixture
def host() -> Iterator[MediaHost]:
    with media_host(SID, TOKEN) as served:
        served.files[REC] = tone_wav()
        yield served


def config(api_base: str, env: str = "development") -> dict[str, str]:
    return {"TWILIO_API_BASE_URL": api_base, "HOTLINE_ENV": env}


def fetch(host: MediaHost, **options: object) -> bytes:
    return download_recording(
        recording_url(host, REC),
        config=config(host.base_url),
        account_sid=SID,
        auth_token=options.pop("token", TOKEN),  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )


def test_downloads_with_basic_auth(host: MediaHost) -> None:
    assert fetch(host) == host.files[REC]


def test_wrong_credentials_are_not_retried(host: MediaHost) -> None:
    with pytest.raises(FetchError) as error:
        fetch(host, token="wrong")
    assert error.value.retry is False
    assert "refused the credentials (HTTP 401)" in error.value.reason
    assert [status for _, status in host.hits] == [401]


def test_not_ready_yet_is_retried_until_the_file_is_there(host: MediaHost) -> None:
    host.not_ready[REC] = 2
    assert fetch(host, quick_retries=2) == host.files[REC]
    assert [status for _, status in host.hits] == [404, 404, 200]


def test_still_missing_after_quick_retries_asks_for_a_later_retry(host: MediaHost) -> None:
    host.not_ready[REC] = 10
    with pytest.raises(FetchError) as error:
        fetch(host, quick_retries=1)
    assert error.value.retry is True
    assert "HTTP 404" in error.value.reason


def test_size_limit(host: MediaHost) -> None:
    with pytest.raises(FetchError, match="larger than 100 bytes") as error:
        fetch(host, max_bytes=100)
    assert error.value.retry is False


def test_credentials_never_go_to_another_host(host: MediaHost) -> None:
    with pytest.raises(FetchError, match="not Twilio's") as error:
        download_recording(
            recording_url(host, REC),
            config=config("https://api.twilio.com"),
            account_sid=SID,
            auth_token=TOKEN,
        )
    assert error.value.retry is False
    assert host.hits == []


def test_plain_http_to_the_loopback_api_base_only_outside_production(host: MediaHost) -> None:
    with pytest.raises(FetchError, match="is not https"):
        download_recording(
            recording_url(host, REC),
            config=config(host.base_url, env="production"),
            account_sid=SID,
            auth_token=TOKEN,
        )
    assert host.hits == []
    assert fetch(host) == host.files[REC]


@pytest.mark.parametrize(
    ("url", "env", "api_base", "refused"),
    [
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1", "production", "", None),
        ("https://api.dublin.ie1.twilio.com/2010-04-01/Recordings/RE1", "production", "", None),
        ("http://api.twilio.com/2010-04-01/Recordings/RE1", "production", "", "is not https"),
        ("http://api.twilio.com/2010-04-01/Recordings/RE1", "development", "", "is not https"),
        ("https://api.twilio.com.evil.example/Recordings/RE1", "production", "", "not Twilio's"),
        ("https://evil.example/api.twilio.com/RE1", "production", "", "not Twilio's"),
        ("https://twilio.example/Recordings/RE1", "production", "https://twilio.example", None),
        ("http://twilio.example/Recordings/RE1", "development", "http://twilio.example", "https"),
        ("http://127.0.0.1:8099/Recordings/RE1", "development", "http://127.0.0.1:8099", None),
        ("http://127.0.0.1:8099/Recordings/RE1", "production", "http://127.0.0.1:8099", "https"),
        # Another loopback port is another service: the configured base alone is trusted.
        ("http://127.0.0.1:5000/Recordings/RE1", "development", "http://127.0.0.1:8099", "Twilio"),
        ("http://[::1]:8099/Recordings/RE1", "development", "http://[::1]:8099", None),
        ("ftp://api.twilio.com/RE1", "production", "", "is not https"),
        ("https://[::1/RE1", "production", "", "not Twilio's"),
    ],
)
def test_where_credentials_may_go(url: str, env: str, api_base: str, refused: str | None) -> None:
    settings = config(api_base or "https://api.twilio.com", env)
    answer = credentials_refused(url, settings)
    assert answer is None if refused is None else refused in (answer or ""), answer
