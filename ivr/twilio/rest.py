"""The one place that calls Twilio's REST API (the simulator's, in tests): calls, conference
participants, recordings.

Recordings are downloaded with basic auth, timeouts and a size limit, and deleted once kept;
whether the bytes are audio is for the caller to check (``voicemail/audio.py``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from ivr.settings import is_loopback
from ivr.text import whole_number
from ivr.twilio.fields import CALL_SID

log = logging.getLogger(__name__)
# api.twilio.com, and the regional hosts of Twilio's edge locations (api.dublin.ie1.twilio.com).
TWILIO_MEDIA_HOST = re.compile(r"api(\.[a-z0-9-]+)*\.twilio\.com")


class TwilioError(Exception):
    """Twilio did not accept a REST request; ``code`` is Twilio's error code when it gave one
    (21220: the call is not in progress; 16027: a whisper to a participant on hold)."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def _error_code(reply: requests.Response) -> int | None:
    try:
        code = reply.json().get("code")
    except (ValueError, AttributeError, RecursionError):
        return None
    return code if isinstance(code, int) else None


def credentials(config: Any) -> tuple[str, str]:
    """Basic-auth credentials: an API key if configured, else the account's token."""
    if config.get("TWILIO_API_KEY_SID") and config.get("TWILIO_API_KEY_SECRET"):
        return config["TWILIO_API_KEY_SID"], config["TWILIO_API_KEY_SECRET"]
    return config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"]


def _request(
    config: Any,
    method: str,
    path: str,
    *,
    form: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One REST request to Twilio: its JSON object, or TwilioError."""
    url = (
        f"{config['TWILIO_API_BASE_URL']}/2010-04-01/Accounts/{config['TWILIO_ACCOUNT_SID']}{path}"
    )
    try:
        reply = requests.request(method, url, data=form, params=params,
                                 auth=credentials(config), timeout=10)  # fmt: skip
    except requests.RequestException as exc:
        raise TwilioError(f"Twilio unreachable: {type(exc).__name__}") from exc
    if reply.status_code >= 300:
        raise TwilioError(
            f"Twilio answered HTTP {reply.status_code}: {reply.text[:200]}",
            code=_error_code(reply),
        )
    try:
        answer = reply.json()
    except (ValueError, RecursionError) as exc:
        raise TwilioError("Twilio answered without JSON") from exc
    if not isinstance(answer, dict):
        raise TwilioError(f"Twilio answered {type(answer).__name__}, not a JSON object")
    return answer


def _post(config: Any, path: str, form: dict[str, str]) -> dict[str, Any]:
    return _request(config, "POST", path, form=form)


def _get(config: Any, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
    return _request(config, "GET", path, params=params)


def create_call(
    config: Any, *, to: str, from_: str, url: str, status_callback: str, timeout: int = 30
) -> str:
    """Place an outbound call whose TwiML comes from ``url``, ringing ``timeout`` seconds; return
    its CallSid."""
    form = {
        "To": to,
        "From": from_,
        "Url": url,
        "Method": "POST",
        "StatusCallback": status_callback,
        "StatusCallbackMethod": "POST",
        "StatusCallbackEvent": "completed",
        "Timeout": str(timeout),
    }
    sid = _post(config, "/Calls.json", form).get("sid")
    if not isinstance(sid, str) or not CALL_SID.fullmatch(sid):
        raise TwilioError(f"Twilio answered without a call sid: {str(sid)[:80]!r}")
    return sid


def update_call(
    config: Any, sid: str, *, url: str | None = None, status: str | None = None
) -> None:
    """Move a live call to the TwiML at ``url`` (out of a queue, say), or end it
    (``status="completed"``)."""
    form = {"Url": url, "Method": "POST"} if url else {}
    if status:
        form["Status"] = status
    _post(config, f"/Calls/{sid}.json", form)


def live_conference(config: Any, name: str) -> str | None:
    """The ConferenceSid of the conference called ``name`` that is in progress, if any.

    Participants are added by name, but changed only through the conference's sid.
    """
    return conference_sid(config, name, "in-progress")


def conference_sid(config: Any, name: str, status: str) -> str | None:
    """The ConferenceSid of the conference called ``name`` in ``status`` (``init``: someone
    waits in it and it never started; ``in-progress``; ``completed``), if any."""
    rooms = _get(config, "/Conferences.json", {"FriendlyName": name, "Status": status}).get(
        "conferences"
    )
    for room in rooms if isinstance(rooms, list) else []:
        sid = room.get("sid") if isinstance(room, dict) else None
        if isinstance(sid, str) and sid.startswith("CF"):
            return sid
    return None


def call_status(config: Any, sid: str) -> str:
    """A call leg's status as Twilio knows it now (``queued``, ``ringing``, ``in-progress``,
    ``completed``, ``busy``, ``no-answer``, ``failed``, ``canceled``)."""
    status = _get(config, f"/Calls/{sid}.json").get("status")
    if not isinstance(status, str) or not status:
        raise TwilioError(f"Twilio answered without a call status: {str(status)[:40]!r}")
    return status


def conference_path(conference: str, participant: str = "") -> str:
    """The REST path of a conference (by sid or friendly name) or of one of its participants."""
    path = f"/Conferences/{conference}/Participants"
    return f"{path}/{participant}.json" if participant else f"{path}.json"


def add_participant(
    config: Any,
    conference: str,
    *,
    to: str,
    from_: str,
    status_callback: str | None = None,
    timeout: int = 30,
    muted: bool = False,
    coach: str | None = None,
    end_on_exit: bool = False,
    label: str | None = None,
    room_events: str | None = None,
) -> str:
    """Ring ``to`` into ``conference`` (muted: listens unheard; ``coach``: heard only by that
    participant's call; ``room_events``: where the room reports, if this leg opens it); return
    the new leg's CallSid."""
    form = {
        "From": from_,
        "To": to,
        "Timeout": str(timeout),
        "Muted": str(muted).lower(),
        "Beep": "false",
        "StartConferenceOnEnter": "true",
        "EndConferenceOnExit": str(end_on_exit).lower(),
    }
    if status_callback:
        form.update(StatusCallback=status_callback, StatusCallbackMethod="POST",
                    StatusCallbackEvent="completed")  # fmt: skip
    if coach:
        form.update(Coaching="true", CallSidToCoach=coach)
    if label:
        form["Label"] = label
    if room_events:  # the room's own reports, should this participant open it
        form.update(ConferenceStatusCallback=room_events, ConferenceStatusCallbackMethod="POST",
                    ConferenceStatusCallbackEvent="start end join leave hold announcement")  # fmt: skip
    sid = _post(config, conference_path(conference), form).get("call_sid")
    if not isinstance(sid, str) or not CALL_SID.fullmatch(sid):
        raise TwilioError(f"Twilio answered without a call sid: {str(sid)[:80]!r}")
    return sid


def update_participant(config: Any, conference: str, call_sid: str, **fields: str) -> None:
    """Change a participant: ``Hold``/``HoldUrl``, ``Muted``, ``Coaching``/``CallSidToCoach``,
    ``EndConferenceOnExit`` (Twilio's field names, values as Twilio reads them)."""
    _post(config, conference_path(conference, call_sid), dict(fields))


RECORDING_SID = re.compile(r"RE[0-9a-zA-Z]{32}")


def start_call_recording(config: Any, call_sid: str, *, status_callback: str) -> str:
    """Record the leg ``call_sid`` from now in two channels (what it says, what it hears);
    return the RecordingSid. Twilio reports the file to ``status_callback``."""
    form = {
        "RecordingChannels": "dual",
        "RecordingTrack": "both",
        "RecordingStatusCallback": status_callback,
        "RecordingStatusCallbackMethod": "POST",
        "RecordingStatusCallbackEvent": "completed absent",
    }
    sid = _post(config, f"/Calls/{call_sid}/Recordings.json", form).get("sid")
    if not isinstance(sid, str) or not RECORDING_SID.fullmatch(sid):
        raise TwilioError(f"Twilio answered without a recording sid: {str(sid)[:80]!r}")
    return sid


def update_call_recording(config: Any, call_sid: str, recording: str | None, status: str) -> None:
    """Pause (``paused``: silence in the file), resume (``in-progress``) or stop (``stopped``)
    the recording ``recording`` of leg ``call_sid`` (None: the leg's current one)."""
    form = {"Status": status}
    if status == "paused":
        form["PauseBehavior"] = "silence"
    _post(config, f"/Calls/{call_sid}/Recordings/{recording or 'Twilio.CURRENT'}.json", form)


class FetchError(Exception):
    """The recording could not be fetched; ``retry`` says whether trying later may help."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


def credentials_refused(url: str, config: Mapping[str, Any]) -> str | None:
    """Why Twilio credentials must not go to ``url``, or None when they may.

    Only Twilio's hosts and the configured API base, over https; plain http only to a loopback
    API base (the offline simulator) outside production.
    """
    base = urlsplit(config["TWILIO_API_BASE_URL"])
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # "https://[::1/…" and the like
        return "recording URL is malformed: not Twilio's"
    ours = bool(host) and (
        TWILIO_MEDIA_HOST.fullmatch(host or "") is not None or parts.netloc == base.netloc
    )
    if not ours:
        return f"recording URL host {parts.netloc[:80]!r} is not Twilio's"
    if parts.scheme == "https":
        return None
    if (
        parts.scheme == "http"
        and parts.netloc == base.netloc
        and is_loopback(parts)
        and config["HOTLINE_ENV"] != "production"
    ):
        return None
    return f"recording URL {parts.scheme}://{parts.netloc[:80]} is not https"


def download_recording(
    url: str,
    *,
    config: Mapping[str, Any],
    account_sid: str,
    auth_token: str,
    timeout: float = 10.0,
    max_bytes: int = 64 * 1024 * 1024,
    quick_retries: int = 2,
) -> bytes:
    """Fetch a recording's bytes. 404 and 5xx are retried a little here.

    Twilio may announce a recording before the file can be downloaded; the worker reschedules
    with backoff when these quick retries are not enough.
    """
    refused = credentials_refused(url, config)
    if refused:
        raise FetchError(refused, retry=False)
    delay = 0.5
    for attempt in range(quick_retries + 1):
        try:
            reply = requests.get(
                url,
                auth=(account_sid, auth_token),
                timeout=timeout,
                stream=True,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            error = FetchError(f"recording download failed: {type(exc).__name__}", retry=True)
        else:
            with reply:
                if reply.status_code == 200:
                    return _read_limited(reply, max_bytes)
                retry = reply.status_code == 404 or reply.status_code >= 500
                if reply.status_code in (401, 403):
                    reason = f"Twilio refused the credentials (HTTP {reply.status_code})"
                else:
                    reason = f"recording download answered HTTP {reply.status_code}"
                error = FetchError(reason, retry=retry)
        if not error.retry or attempt == quick_retries:
            raise error
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


def _read_limited(reply: requests.Response, max_bytes: int) -> bytes:
    length = reply.headers.get("Content-Length")
    if (size := whole_number(length or "")) is not None and size > max_bytes:
        raise FetchError(f"recording is larger than {max_bytes} bytes", retry=False)
    chunks: list[bytes] = []
    size = 0
    for chunk in reply.iter_content(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"recording is larger than {max_bytes} bytes", retry=False)
        chunks.append(chunk)
    if size == 0:
        raise FetchError("the downloaded recording is empty", retry=True)
    return b"".join(chunks)


def delete_recording(recording_url: str, config: Any) -> None:
    """Delete the recording at Twilio once we hold our own copy (best effort)."""
    if refused := credentials_refused(recording_url, config):
        log.warning("not deleting %s at Twilio: %s", recording_url, refused)
        return
    try:
        requests.delete(recording_url + ".json", auth=credentials(config), timeout=10)
    except requests.RequestException as exc:
        log.warning("could not delete %s at Twilio: %s", recording_url, exc)
