"""A throwaway HTTP server on loopback for the stand-ins tests talk to (shops, Twilio, webhooks)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 (a free port) and yield the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class RestCalls(BaseHTTPRequestHandler):
    """Twilio's Calls resource on loopback: records each call the app places."""

    placed: list[dict[str, str]] = []
    # Conferences as GET Conferences.json lists them ({"sid", "friendly_name", "status"}).
    rooms: list[dict[str, str]] = []

    def do_GET(self) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        rooms = [
            room for room in self.rooms
            if query.get("FriendlyName") in (None, room["friendly_name"])
            and query.get("Status") in (None, room["status"])
        ]  # fmt: skip
        self._json(200, {"conferences": rooms})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        self.placed.append({"path": self.path, **form})
        sid = "CA" + f"{len(self.placed):032x}"
        # A call (Calls.json) answers its sid; a conference participant, the call_sid of its leg.
        self._json(201, {"sid": sid, "call_sid": sid, "status": "queued"})

    def _json(self, status: int, reply: dict[str, Any]) -> None:
        body = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass
