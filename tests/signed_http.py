"""Signed Twilio webhooks over real HTTP on loopback, as Twilio sends them."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL, sign


@dataclass(frozen=True)
class Reply:
    """What the app answered: the status and the body (named as the test client names them)."""

    status_code: int
    data: bytes


class TwilioOverHttp:
    """Posts signed webhooks to a live server; a drop-in for the ``twilio`` fixture."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def post(self, path: str, params: dict[str, str], *, token: str = AUTH_TOKEN) -> Reply:
        """POST form ``params`` to ``path`` with a valid signature for ``token``."""
        headers = {"X-Twilio-Signature": sign(PUBLIC_BASE_URL + path, params, token)}
        reply = self.http.post(self.base_url + path, data=params, headers=headers, timeout=10)
        return Reply(reply.status_code, reply.content)
