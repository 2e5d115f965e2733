"""Voice messages through the JSON API: fields, filters, audio with Range, tokens."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.factories import add_message, auth, make_token


def test_voicemail_fields_and_filters(app: Flask, client: FlaskClient) -> None:
    done = add_message(app, n=1)
    add_message(app, transcribed=False, n=2)
    token = make_token(app)
    body = client.get("/api/v1/voicemails", headers=auth(token)).json
    assert [m["id"] for m in body["data"]] == [done + 1, done]
    message = client.get(f"/api/v1/voicemails/{done}", headers=auth(token)).json
    for name in (
        "id",
        "call_sid",
        "case_number",
        "category",
        "language",
        "duration",
        "status",
        "transcript",
        "words",
        "created_at",
    ):
        assert name in message
    assert message["status"] == "transcribed"
    assert message["transcript"] == "退货 运费 谁 承担"
    assert message["words"][0] == {"word": "退货", "start": 0.1, "end": 0.5, "conf": 0.93}
    pending = client.get("/api/v1/voicemails?status=pending", headers=auth(token)).json["data"]
    assert [m["id"] for m in pending] == [done + 1]
    assert client.get("/api/v1/voicemails?status=lost", headers=auth(token)).status_code == 400
    assert client.get("/api/v1/voicemails/99999", headers=auth(token)).status_code == 404


def test_audio_needs_a_token_and_supports_range(app: Flask, client: FlaskClient) -> None:
    ident = add_message(app)
    url = f"/api/v1/voicemails/{ident}/audio"
    assert client.get(url).status_code == 401
    token = make_token(app)
    whole = client.get(url, headers=auth(token))
    assert whole.status_code == 200
    assert whole.mimetype == "audio/wav"
    assert whole.data[:4] == b"RIFF"
    part = client.get(url, headers={**auth(token), "Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(whole.data)}"
    assert part.data == whole.data[100:200]
    assert "no-store" in whole.headers["Cache-Control"]
    whole.close()
    part.close()


def test_audio_not_fetched_yet_is_a_clear_404(app: Flask, client: FlaskClient) -> None:
    ident = add_message(app, transcribed=False)
    reply = client.get(f"/api/v1/voicemails/{ident}/audio", headers=auth(make_token(app)))
    assert reply.status_code == 404
    assert "not been fetched" in reply.json["error"]["message"]


def test_audio_is_not_served_as_a_static_file(app: Flask, client: FlaskClient) -> None:
    add_message(app)
    data = Path(app.config["HOTLINE_DATA_DIR"])
    assert (data / "recordings").is_dir()
    for path in ("/recordings/00000/1.wav", "/data/recordings/00000/1.wav", "/static/../data"):
        assert client.get(path).status_code == 404
