"""The one place that calls Twilio's REST API (the simulator's, in tests)."""

from __future__ import annotations

from typing import Any

import requests

from ivr.twilio.fields import CALL_SID

# A CallSid as Twilio writes them (and the simulator copies).


class TwilioError(Exception):
    """Twilio did not accept a REST request."""


def credentials(config: Any) -> tuple[str, str]:
    """Basic-auth credentials: an API key if configured, else the account's token."""
    if config.get("TWILIO_API_KEY_SID") and config.get("TWILIO_API_KEY_SECRET"):
        return config["TWILIO_API_KEY_SID"], config["TWILIO_API_KEY_SECRET"]
    return config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"]


def _post(config: Any, path: str, form: dict[str, str]) -> dict[str, Any]:
    url = (
        f"{config['TWILIO_API_BASE_URL']}/2010-04-01/Accounts/{config['TWILIO_ACCOUNT_SID']}{path}"
    )
    try:
        reply = requests.post(url, data=form, auth=credentials(config), timeout=10)
    except requests.RequestException as exc:
        raise TwilioError(f"Twilio unreachable: {type(exc).__name__}") from exc
    if reply.status_code >= 300:
        raise TwilioError(f"Twilio answered HTTP {reply.status_code}: {reply.text[:200]}")
    try:
        answer = reply.json()
    except (ValueError, RecursionError) as exc:
        raise TwilioError("Twilio answered without JSON") from exc
    if not isinstance(answer, dict):
        raise TwilioError(f"Twilio answered {type(answer).__name__}, not a JSON object")
    return answer


def create_call(config: Any, *, to: str, from_: str, url: str, status_callback: str) -> str:
    """Place an outbound call whose TwiML comes from ``url``; return its CallSid."""
    form = {
        "To": to,
        "From": from_,
        "Url": url,
        "Method": "POST",
        "StatusCallback": status_callback,
        "StatusCallbackMethod": "POST",
        "StatusCallbackEvent": "completed",
        "Timeout": "30",
    }
    sid = _post(config, "/Calls.json", form).get("sid")
    if not isinstance(sid, str) or not CALL_SID.fullmatch(sid):
        raise TwilioError(f"Twilio answered without a call sid: {str(sid)[:80]!r}")
    return sid
