"""A message transcribed by the real worker (loopback media host, ffmpeg, Vosk's Korean model) is
checked as soon as its transcript is stored, and a flag in it reaches a supervisor."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from ivr.database import db
from tests.conftest import Twilio
from tests.factories import CLIP, leave_message, stored, use_media_host
from tests.media_server import MediaHost
from tests.speech import speech
from tests.web.test_alerts import hooks, received, smtp, webhook  # noqa: F401 (fixtures)
from voicemail.audio import telephone_line
from voicemail.models import QualityCheck, QualityTag
from voicemail.worker import work

# The clip is Korean news ("한 잔 의 커피 가 …"): the words the Korean model hears in it stand in
# for a complaint, and for a topic's keywords.
RULES = """\
flags:
  complaint: [커피, complaint]
weights:
  complaint: 30
topics:
  product: [공정을]
  payment: [결제]
"""


@pytest.fixture
def app_settings(
    app_settings: dict[str, Any],
    host: MediaHost,
    tmp_path: Path,
    smtp: int,  # noqa: F811
    webhook: str,  # noqa: F811
) -> dict[str, Any]:
    rules = tmp_path / "quality.yaml"
    rules.write_text(RULES, encoding="utf-8")
    app_settings.update(
        HOTLINE_QUALITY_RULES=str(rules),
        HOTLINE_SMTP_HOST="127.0.0.1",
        HOTLINE_SMTP_PORT=smtp,
        HOTLINE_SUPERVISOR_EMAIL="lead@example.com",
        HOTLINE_ALERT_WEBHOOK=webhook,
    )
    return use_media_host(app_settings, host)


@pytest.mark.slow
def test_a_transcribed_message_is_checked_and_its_flag_alerted(
    app: Flask, twilio: Twilio, host: MediaHost
) -> None:
    leave_message(twilio, host, telephone_line(speech(CLIP)), "RE" + "5" * 32)
    assert work(app, burst=True) == 1
    [message] = stored(app)
    transcript = message.transcript or ""
    assert "커피" in transcript, transcript
    with app.app_context():
        check = db.session.scalars(select(QualityCheck)).one()
        tags = list(db.session.scalars(select(QualityTag.tag)))
        db.session.expunge_all()
    assert (check.kind, check.voicemail_id, check.call_sid) == (
        "message",
        message.id,
        message.call_sid,
    )
    assert check.tags == tags == ["complaint"] and check.score == 70
    assert check.at == message.created_at
    # Left under the general option: a topic suggested from its words.
    assert check.suggested_topic == "product"
    flag = next(m for m in check.matches if m["kind"] == "flag")
    assert transcript[flag["start"] : flag["end"]] == "커피" and flag["turn"] is None
    assert check.alerted_at is not None
    [raw] = received
    mail = message_from_bytes(raw, policy=default)
    assert mail["Subject"] == (
        f"[hotline] Flagged complaint: case {message.case_number} (voice message, general)"
    )
    assert f"/inbox/{message.id}" in mail.get_body().get_content()  # type: ignore[union-attr]
    [hook] = hooks
    assert hook["voicemail_id"] == message.id and hook["flags"] == ["complaint"]
