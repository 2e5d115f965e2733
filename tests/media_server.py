"""A stand-in for Twilio's media host on loopback, with the failures downloads must survive."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class MediaHost:
    """What the server serves and how it misbehaves."""

    account_sid: str
    auth_token: str
    files: dict[str, bytes] = field(default_factory=dict)
    not_ready: dict[str, int] = field(default_factory=dict)  # 404s to give before the file
    bad_bytes: dict[str, int] = field(default_factory=dict)  # garbage answers to give
    hits: list[tuple[str, int]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    base_url: str = ""


@contextmanager
def media_host(account_sid: str, auth_token: str) -> Iterator[MediaHost]:
    """Serve recordings at /2010-04-01/Accounts/<sid>/Recordings/<RE…> with basic auth."""
    host = MediaHost(account_sid, auth_token)
    expected = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: bytes = b"", ctype: str = "text/plain") -> None:
            host.hits.append((self.path, status))
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.headers.get("Authorization") != expected:
                self._answer(401, b"authenticate")
                return
            sid = self.path.rsplit("/", 1)[-1]
            if host.not_ready.get(sid, 0) > 0:
                host.not_ready[sid] -= 1
                self._answer(404, b"not found")
                return
            if host.bad_bytes.get(sid, 0) > 0:
                host.bad_bytes[sid] -= 1
                self._answer(200, b"<html>oops</html>", "audio/x-wav")
                return
            if sid not in host.files:
                self._answer(404, b"not found")
                return
            self._answer(200, host.files[sid], "audio/x-wav")

        def do_DELETE(self) -> None:
            if self.headers.get("Authorization") != expected:
                self._answer(401)
                return
            host.deleted.append(self.path)
            self._answer(204)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    host.base_url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()


def recording_url(host: MediaHost, recording_sid: str) -> str:
    """The RecordingUrl Twilio would send for a recording on this host."""
    return f"{host.base_url}/2010-04-01/Accounts/{host.account_sid}/Recordings/{recording_sid}"
