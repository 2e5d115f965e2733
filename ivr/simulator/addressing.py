"""Map the public URLs Twilio requests to the app's own paths, and sign requests."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from twilio.request_validator import SIGNATURE_SETTINGS_HEADER, RequestValidator

from ivr.simulator.errors import SimulatorError

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int]:
    """Scheme, lower-case host and effective port of ``url``."""
    parts = urlsplit(url)
    port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


@dataclass(frozen=True)
class SharedKey:
    """A webhook SharedKey: Twilio signs with it, not the auth token, when a Webhook Rule says so."""

    id: str
    secret: str
    algorithm: str = "HMAC_SHA256"


class PublicAddress:
    """The app's public base URL (possibly with a path prefix a proxy strips)."""

    def __init__(
        self, public_base_url: str, auth_token: str, shared_key: SharedKey | None = None
    ) -> None:
        parts = urlsplit(public_base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"public_base_url must be an http(s) URL: {public_base_url!r}")
        self.base = public_base_url.rstrip("/")
        self.origin = _origin(self.base)
        self.prefix = parts.path.rstrip("/")
        self.validator = RequestValidator(auth_token)
        self.shared_key = shared_key

    def url(self, path: str) -> str:
        """The public URL of an app path such as ``/voice/incoming``."""
        return self.base + "/" + path.lstrip("/")

    def resolve(self, reference: str, document_url: str) -> str:
        """Resolve a TwiML URL against the document that contained it.

        Its fragment, Twilio's connection overrides (``#rc=3&rp=all``), is kept for the request
        to follow; it is never sent, nor signed.
        """
        return urljoin(document_url, reference.strip())

    def app_path(self, url: str) -> str:
        """The path (and query) the app behind the proxy sees for public ``url``."""
        parts = urlsplit(url)
        if _origin(url) != self.origin:
            raise SimulatorError(
                f"TwiML points at {url}, outside the public base {self.base}; "
                "the simulator only requests the app under test"
            )
        path = parts.path or "/"
        if self.prefix:
            if path != self.prefix and not path.startswith(self.prefix + "/"):
                raise SimulatorError(f"{url} is outside the public base path {self.prefix}/")
            path = path[len(self.prefix) :] or "/"
        return path + (f"?{parts.query}" if parts.query else "")

    def signed(self, url: str, form: dict[str, str]) -> dict[str, str]:
        """The signature headers of a POST of ``form`` to public ``url``."""
        key = self.shared_key
        if key is None:
            return {"X-Twilio-Signature": self.validator.compute_signature(url, form)}
        return {
            "X-Twilio-Signature": RequestValidator(key.secret).compute_signature(
                url, form, key.algorithm
            ),
            SIGNATURE_SETTINGS_HEADER: f"key={key.id},algorithm={key.algorithm}",
        }
