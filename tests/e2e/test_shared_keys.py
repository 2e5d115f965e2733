"""Webhooks signed with a Twilio SharedKey (HMAC-SHA256) instead of the auth token."""

from __future__ import annotations

import http.client
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator

from ivr.simulator import RecordingServer, SharedKey
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL
from tests.e2e.conftest import simulator_for
from tests.e2e.test_calls import api_call, call
from tests.factories import call_params

OLD = SharedKey("KS_old", "old-shared-secret", "HMAC_SHA1")
NEW = SharedKey("KS_new", "new-shared-secret")


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    """Both keys of a rotation are configured."""
    app_settings["TWILIO_WEBHOOK_SHARED_KEYS"] = {OLD.id: OLD.secret, NEW.id: NEW.secret}
    return app_settings


@pytest.mark.parametrize("key", [NEW, OLD], ids=["new key, SHA-256", "old key, SHA-1"])
def test_a_call_signed_with_either_shared_key_goes_through(
    app: Flask, client: FlaskClient, live_server: str, media: RecordingServer, key: SharedKey
) -> None:
    phone = simulator_for(live_server, media, shared_key=key)
    try:
        result = call(phone, "1 5 12345678# hangup")
    finally:
        phone.close()
    assert {r.status for r in result.requests} <= {200, 204}
    kinds = [e["kind"] for e in api_call(app, client, result.sid)["events"]]
    assert kinds.count("incoming") == 1 and "case_lookup" in kinds and "status" in kinds


def post(live_server: str, headers: dict[str, str]) -> int:
    """POST the incoming-call form to the app over HTTP with ``headers``; the status."""
    server = urlsplit(live_server)
    conn = http.client.HTTPConnection(server.hostname, server.port, timeout=10)
    conn.request(
        "POST",
        "/voice/incoming",
        body=urlencode(call_params()),
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
    )
    return conn.getresponse().status


def signed(secret: str, algorithm: str = "HMAC_SHA1") -> str:
    url = PUBLIC_BASE_URL + "/voice/incoming"
    return RequestValidator(secret).compute_signature(url, call_params(), algorithm)


def test_shared_key_signatures_that_do_not_match_are_refused(app: Flask, live_server: str) -> None:
    settings = "X-Twilio-Webhooks-Signature-Settings"
    sha256 = "HMAC_SHA256"
    assert post(live_server, {"X-Twilio-Signature": signed(AUTH_TOKEN)}) == 200
    genuine = signed(NEW.secret, sha256)
    assert (
        post(
            live_server,
            {"X-Twilio-Signature": genuine, settings: f"key={NEW.id},algorithm={sha256}"},
        )
        == 200
    )
    refused = [
        # A key we never configured (a retired one, say), however well signed.
        {
            "X-Twilio-Signature": signed("retired", sha256),
            settings: f"key=KS_gone,algorithm={sha256}",
        },
        # The header names one key, the signature was made with another.
        {
            "X-Twilio-Signature": signed(OLD.secret, sha256),
            settings: f"key={NEW.id},algorithm={sha256}",
        },
        # The auth token's signature does not pass for a SharedKey's.
        {"X-Twilio-Signature": signed(AUTH_TOKEN), settings: f"key={NEW.id},algorithm=HMAC_SHA1"},
        # A SharedKey's signature without the header is checked against the auth token.
        {"X-Twilio-Signature": genuine},
        # An algorithm Twilio does not have.
        {"X-Twilio-Signature": genuine, settings: f"key={NEW.id},algorithm=HMAC_MD5"},
    ]
    for headers in refused:
        assert post(live_server, headers) == 403, headers


def test_the_simulate_command_signs_with_a_configured_shared_key(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["simulate", "call", "--shared-key", NEW.id, "--keys", "1 9"])
    assert result.exit_code == 0, result.output
    assert "error" not in result.output
    unknown = runner.invoke(args=["simulate", "call", "--shared-key", "KS_gone"])
    assert unknown.exit_code == 2 and "TWILIO_WEBHOOK_SHARED_KEYS" in unknown.output
