"""Deliver webhook requests to the app: over loopback HTTP or straight into a WSGI app."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from werkzeug.test import Client

from ivr.simulator.errors import TransportError

# Twilio waits about 15 s for a webhook response, 5 s to connect (TWILIO.md).
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
# Keep-alive connections kept per host: enough for hundreds of calls placed at once, which
# requests' default of 10 would turn into a new connection (and a logged warning) per webhook.
POOL_SIZE = 256


@dataclass(frozen=True)
class Reply:
    """What the app answered: status, headers and body text."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    @property
    def content_type(self) -> str:
        """The Content-Type header, or an empty string."""
        for name, value in self.headers.items():
            if name.lower() == "content-type":
                return value
        return ""


class Transport(Protocol):
    """Anything that can POST a form to a path of the app."""

    def post(self, path_and_query: str, form: dict[str, str], headers: dict[str, str]) -> Reply:
        """POST ``form`` to ``path_and_query`` with ``headers``."""
        ...


def is_loopback(host: str) -> bool:
    """True for localhost and loopback IP addresses."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_loopback(url: str) -> str:
    """Return ``url`` if it is http(s) on a loopback host; raise ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if not is_loopback(parts.hostname):
        raise ValueError(f"the simulator only talks to loopback hosts, not {parts.hostname!r}")
    return url


class HttpTransport:
    """Real HTTP to an app listening on loopback."""

    def __init__(self, base_url: str) -> None:
        self.base_url = require_loopback(base_url).rstrip("/")
        self.session = requests.Session()
        # Proxy settings from the environment must not send loopback traffic anywhere else.
        self.session.trust_env = False
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def post(self, path_and_query: str, form: dict[str, str], headers: dict[str, str]) -> Reply:
        """POST the form over HTTP; TransportError if the app cannot be reached."""
        url = require_loopback(self.base_url + path_and_query)
        try:
            response = self.session.post(
                url,
                data=form,
                headers=headers,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            # ConnectionError covers refused, reset and aborted connections and connect timeouts.
            failed = isinstance(exc, requests.ConnectionError)
            raise TransportError(f"POST {url}: {exc}", connection_failed=failed) from None
        content_type = response.headers.get("Content-Type", "")
        # XML without a charset is UTF-8, not requests' HTTP default of ISO-8859-1.
        encoding = response.encoding if "charset" in content_type.lower() else "utf-8"
        body = response.content.decode(encoding or "utf-8", errors="replace")
        return Reply(response.status_code, dict(response.headers), body)

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()


class WsgiTransport:
    """Calls a WSGI app object in-process through werkzeug's test client."""

    def __init__(self, app: Any) -> None:
        self.client = Client(app)

    def post(self, path_and_query: str, form: dict[str, str], headers: dict[str, str]) -> Reply:
        """POST the form through the test client."""
        response = self.client.post(path_and_query, data=form, headers=headers)
        try:
            return Reply(response.status_code, dict(response.headers), response.get_data(True))
        finally:
            response.close()
