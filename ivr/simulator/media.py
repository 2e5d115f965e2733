"""Recording media: a loopback server that serves recordings the way Twilio's API does."""

from __future__ import annotations

import array
import base64
import contextlib
import hmac
import io
import json
import math
import re
import struct
import sys
import threading
import time
import warnings
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    from ivr.simulator.rest import TwilioApi

RECORDING_PATH = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>AC\w+)/Recordings/(?P<sid>RE\w+?)(?P<ext>\.wav|\.mp3)?$"
)


def tone_wav(seconds: float, *, rate: int = 8000, hz: float = 440.0) -> bytes:
    """A mono 16-bit WAV of a sine tone: stand-in speech for scripts and tests."""
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    frames = int(seconds * rate)
    samples = (int(8000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(frames))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return buffer.getvalue()


def _pydub() -> Any:
    """Import pydub lazily, hiding its audioop deprecation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import pydub

    return pydub


def audio_seconds(audio: bytes) -> float:
    """Length of ``audio`` in seconds: WAV from its header, anything else through pydub."""
    if not audio:
        return 0.0
    try:
        with wave.open(io.BytesIO(audio)) as wav:
            return wav.getnframes() / float(wav.getframerate())
    except (wave.Error, EOFError):
        segment = _pydub().AudioSegment.from_file(io.BytesIO(audio))
        return len(segment) / 1000.0


def phone_recording(audio: bytes) -> bytes:
    """Any audio file as Twilio's <Record> keeps a phone caller: 8 kHz mono 16-bit WAV."""
    try:
        segment = _pydub().AudioSegment.from_file(io.BytesIO(audio))
    except Exception as exc:  # pydub raises CouldntDecodeError, or ffmpeg's own errors
        raise ValueError(f"speak: the file is not audio ffmpeg can read ({exc!s:.80})") from None
    out = io.BytesIO()
    segment.set_channels(1).set_frame_rate(8000).set_sample_width(2).export(out, format="wav")
    return out.getvalue()


def is_phone_wav(audio: bytes) -> bool:
    """True for an 8 kHz mono 16-bit WAV (what phone_recording makes), which needs no ffmpeg."""
    try:
        with wave.open(io.BytesIO(audio)) as wav:
            return (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
    except (wave.Error, EOFError):
        return False


def wav_to_mp3(audio: bytes) -> bytes:
    """Convert WAV bytes to MP3 with pydub (ffmpeg)."""
    segment = _pydub().AudioSegment.from_file(io.BytesIO(audio))
    out = io.BytesIO()
    segment.export(out, format="mp3")
    return out.getvalue()


class _MediaHandler(BaseHTTPRequestHandler):
    """Serves recordings (GET …/Recordings/{RecordingSid}[.wav|.mp3]) and the attached REST API."""

    server: _MediaHTTPServer

    def do_GET(self) -> None:
        """Serve a recording after checking basic auth and readiness."""
        owner = self.server.owner
        match = RECORDING_PATH.match(self.path.split("?", 1)[0])
        if not match and owner.api is not None:
            self._api("GET")
            return
        if not match or match["account"] != owner.account_sid:
            self._send(404, "application/json", b'{"status": 404, "message": "not found"}')
            return
        if not owner.authorized(self.headers.get("Authorization", "")):
            owner.fetches.append((match["sid"] + (match["ext"] or ""), 401))
            self._send(
                401,
                "application/json",
                b'{"code": 20003, "message": "Authenticate", "status": 401}',
                {"WWW-Authenticate": 'Basic realm="Twilio API"'},
            )
            return
        body, content_type = owner.media(match["sid"], match["ext"] or "")
        if body is None:
            body = (
                b'{"code": 20404, "message": "The requested resource was not found", "status": 404}'
            )
            self._send(404, "application/json", body)
        else:
            self._send(200, content_type, body)

    def do_POST(self) -> None:
        """A REST API request."""
        self._api("POST")

    def do_DELETE(self) -> None:
        """A REST API request."""
        self._api("DELETE")

    def _api(self, method: str) -> None:
        """Hand a request to the attached TwilioApi (404 without one)."""
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        path, _, query = self.path.partition("?")
        form: dict[str, str] = {}
        # GET filters (FriendlyName, Status, PageSize) come in the query string, as Twilio's
        # clients send them; a POST's fields in the body.
        pairs = parse_qsl(query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True)
        for name, value in pairs:
            # Twilio's clients repeat list fields (StatusCallbackEvent): keep them all.
            form[name] = f"{form[name]} {value}" if name in form else value
        api = owner.api
        if api is None:
            self._send(404, "application/json", b'{"status": 404, "message": "not found"}')
            return
        authorized = owner.authorized(self.headers.get("Authorization", ""))
        status, answer = api.handle(method, path, form, authorized)
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else {}
        body_bytes = b"" if answer is None else json.dumps(answer).encode()
        self._send(status, "application/json", body_bytes, headers)

    def _send(
        self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        """Write a complete response."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        # A client that gave up (a download timeout) needs no answer and no traceback.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: requests are kept in ``RecordingServer.fetches``."""


class _MediaHTTPServer(ThreadingHTTPServer):
    """The HTTP server, pointing back at its RecordingServer."""

    daemon_threads = True
    owner: RecordingServer


class RecordingServer:
    """Twilio's recording media API on 127.0.0.1, with basic auth and "not ready yet" 404s.

    A recording answers 404 for its first ``not_ready_requests`` GETs and for
    ``not_ready_seconds`` after it was stored, as Twilio's does until processing ends.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        not_ready_requests: int = 0,
        not_ready_seconds: float = 0.0,
        api_keys: dict[str, str] | None = None,
        port: int = 0,
    ) -> None:
        self.port = port
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.api_keys = dict(api_keys or {})
        self.api: TwilioApi | None = None
        self.not_ready_requests = not_ready_requests
        self.not_ready_seconds = not_ready_seconds
        self.recordings: dict[str, bytes] = {}
        self._stored_at: dict[str, float] = {}
        self.fetches: list[tuple[str, int]] = []
        self._gets: dict[str, int] = {}
        self._mp3: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._server: _MediaHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (starts the server if needed)."""
        server = self.start()
        return f"http://127.0.0.1:{server.server_port}"

    def start(self) -> _MediaHTTPServer:
        """Start serving in a daemon thread (idempotent)."""
        with self._lock:
            if self._server is None:
                server = _MediaHTTPServer(("127.0.0.1", self.port), _MediaHandler)
                server.owner = self
                self._thread = threading.Thread(
                    target=server.serve_forever, args=(0.05,), name="recording-server", daemon=True
                )
                self._thread.start()
                self._server = server
            return self._server

    def close(self) -> None:
        """Stop serving."""
        with self._lock:
            server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> RecordingServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def url(self, recording_sid: str) -> str:
        """The media URL of a recording, without extension (as Twilio's RecordingUrl)."""
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Recordings/{recording_sid}"

    def store(self, recording_sid: str, audio: bytes) -> str:
        """Keep ``audio`` as recording ``recording_sid``; return its URL without extension."""
        with self._lock:
            self.recordings[recording_sid] = audio
            self._stored_at[recording_sid] = time.monotonic()
        return self.url(recording_sid)

    def attach(self, api: TwilioApi, api_keys: dict[str, str] | None = None) -> None:
        """Serve ``api`` (Twilio's REST API) beside the recordings, accepting ``api_keys`` too."""
        with self._lock:
            self.api = api
            self.api_keys.update(api_keys or {})

    def detach(self, api: TwilioApi) -> None:
        """Stop serving ``api`` (if it is the one attached)."""
        with self._lock:
            if self.api is api:
                self.api = None

    def authorized(self, header: str) -> bool:
        """True for HTTP Basic auth with AccountSid:AuthToken or an API key SK…:secret."""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        expected = self.auth_token if user == self.account_sid else self.api_keys.get(user)
        return expected is not None and hmac.compare_digest(secret.encode(), expected.encode())

    def fetched(self, recording_sid: str) -> bool:
        """Whether the recording has been downloaded (answered 200) at least once."""
        return any(
            status == 200 and name.split(".")[0] == recording_sid for name, status in self.fetches
        )

    def delete(self, recording_sid: str) -> bool:
        """Forget a recording (the REST API's DELETE); False if there was none."""
        with self._lock:
            self._mp3.pop(recording_sid, None)
            self._stored_at.pop(recording_sid, None)
            return self.recordings.pop(recording_sid, None) is not None

    def media(self, recording_sid: str, ext: str) -> tuple[bytes | None, str]:
        """The recording as WAV or MP3, or None while missing or "not ready yet"."""
        with self._lock:
            audio = self.recordings.get(recording_sid)
            count = self._gets[recording_sid] = self._gets.get(recording_sid, 0) + 1
            age = time.monotonic() - self._stored_at.get(recording_sid, time.monotonic())
        ready = (
            audio is not None and count > self.not_ready_requests and age >= self.not_ready_seconds
        )
        self.fetches.append((f"{recording_sid}{ext}", 200 if ready else 404))
        if not ready or audio is None:
            return None, ""
        if ext == ".mp3":
            if recording_sid not in self._mp3:
                self._mp3[recording_sid] = wav_to_mp3(audio)
            return self._mp3[recording_sid], "audio/mpeg"
        return audio, "audio/x-wav"


def truncate_wav(audio: bytes, seconds: float) -> bytes:
    """The first ``seconds`` of a WAV (Record's maxLength); shorter audio and other formats as is."""
    if audio_seconds(audio) <= seconds:
        return audio
    try:
        with wave.open(io.BytesIO(audio)) as wav:
            params = wav.getparams()
            frames = wav.readframes(int(seconds * params.framerate))
    except (wave.Error, EOFError):
        return audio
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setparams(params)
        writer.writeframes(frames)
    return out.getvalue()


# Quieter than this everywhere (dBFS peak) counts as silence: line noise, not speech.
SILENCE_DBFS = -45.0


def is_silent(audio: bytes) -> bool:
    """True if ``audio`` has no sample louder than SILENCE_DBFS (or no samples at all)."""
    if not audio:
        return True
    try:
        with wave.open(io.BytesIO(audio)) as wav:
            width, frames = wav.getsampwidth(), wav.readframes(wav.getnframes())
    except (wave.Error, EOFError):
        segment = _pydub().AudioSegment.from_file(io.BytesIO(audio))
        return len(segment) == 0 or segment.max_dBFS < SILENCE_DBFS
    if not frames:
        return True
    if width == 1:
        # 8-bit WAV is unsigned around 128.
        peak = max(abs(sample - 128) for sample in frames) / 128
    elif width in (2, 4):
        samples = array.array("h" if width == 2 else "i", frames)
        if sys.byteorder == "big":
            samples.byteswap()
        peak = max(abs(min(samples)), abs(max(samples))) / float(1 << (8 * width - 1))
    else:
        segment = _pydub().AudioSegment.from_file(io.BytesIO(audio))
        return segment.max_dBFS < SILENCE_DBFS
    return peak == 0 or 20 * math.log10(peak) < SILENCE_DBFS
