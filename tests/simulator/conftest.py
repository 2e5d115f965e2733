"""A throwaway Twilio app served on loopback, and simulators pointed at it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from ivr.simulator import HttpTransport, Simulator

TOKEN = "simulator-test-token-0123456789ab"
ACCOUNT = "AC" + "1" * 32
PUBLIC = "https://hotline.example.com"

# A page is fixed TwiML, (status, body, content type), or a function of the received form
# returning either.
Answer = str | tuple[int, str, str]
Page = Answer | Callable[[dict[str, str]], Answer]


def twiml(*verbs: str) -> str:
    """A TwiML document of ``verbs``."""
    return '<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(verbs) + "</Response>"


@dataclass
class Received:
    """One request the toy app received."""

    path: str
    form: dict[str, str]
    idempotency_token: str


@dataclass
class ToyApp:
    """A tiny Twilio app: fixed TwiML per path, signature checked against the public URL."""

    public: str
    token: str = TOKEN
    pages: dict[str, Page] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def flask(self) -> Flask:
        """The Flask app answering with ``pages``."""
        app = Flask("toy")
        validator = RequestValidator(self.token)

        @app.post("/", defaults={"path": ""})
        @app.post("/<path:path>")
        def webhook(path: str) -> Response | tuple[str, int]:
            query = request.query_string.decode()
            public_url = self.public.rstrip("/") + request.path + (f"?{query}" if query else "")
            form = request.form.to_dict()
            signature = request.headers.get("X-Twilio-Signature", "")
            if not validator.validate(public_url, form, signature):
                return "bad signature", 403
            self.received.append(
                Received(
                    request.full_path.rstrip("?"),
                    form,
                    request.headers.get("I-Twilio-Idempotency-Token", ""),
                )
            )
            page = self.pages.get(request.path)
            if page is None:
                return "", 204 if request.path == "/voice/status" else 404
            answer = page(form) if callable(page) else page
            if isinstance(answer, tuple):
                status, body, content_type = answer
                return Response(body, status, content_type=content_type)
            return Response(answer, 200, content_type="text/xml")

        return app

    def paths(self) -> list[str]:
        """Paths requested so far, in order."""
        return [received.path for received in self.received]

    def form(self, path: str) -> dict[str, str]:
        """The form of the last request to ``path``."""
        return [r.form for r in self.received if r.path == path][-1]


@pytest.fixture
def serve() -> Iterator[Callable[..., ToyApp]]:
    """Serve ToyApps over real HTTP on loopback; stopped after the test."""
    stops: list[Callable[[], None]] = []

    def start(public: str = PUBLIC, **pages: Any) -> ToyApp:
        toy = ToyApp(public)
        server = make_server("127.0.0.1", 0, toy.flask(), threaded=True)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        toy.url = f"http://127.0.0.1:{server.server_port}"

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        stops.append(stop)
        return toy

    yield start
    for stop in stops:
        stop()


@pytest.fixture
def toy(serve: Callable[..., ToyApp]) -> ToyApp:
    """One toy app at the default public URL."""
    return serve()


@pytest.fixture
def simulator() -> Iterator[Callable[..., Simulator]]:
    """Build simulators for a toy app; their media servers are closed after the test."""
    made: list[Simulator] = []

    def build(toy: ToyApp, **options: Any) -> Simulator:
        options.setdefault("public_base_url", toy.public)
        options.setdefault("auth_token", TOKEN)
        options.setdefault("account_sid", ACCOUNT)
        sim = Simulator(HttpTransport(toy.url), **options)
        made.append(sim)
        return sim

    yield build
    for sim in made:
        sim.close()
