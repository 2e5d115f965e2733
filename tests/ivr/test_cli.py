"""``flask --app app agents …`` and ``tokens …``: what an operator types is checked before it is stored."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from ivr.database import db
from ivr.models import Agent, ApiToken, Presence
from tests.factories import invoke


def test_an_agent_is_created_in_the_call_centres_time_zone(app: Flask) -> None:
    app.config["HOTLINE_TIMEZONE"] = "Europe/Berlin"
    made = invoke(app, "agents", "create", "li", "--password", "correct horse",
                  "--phone", "+8613900000001", "--languages", "zh,en", "--topics", "product")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert invoke(app, "agents", "create", "wang", "--password", "correct horse",
                  "--timezone", "Asia/Tokyo").exit_code == 0  # fmt: skip
    assert invoke(app, "agents", "presence", "li", "available").exit_code == 0
    with app.app_context():
        li = db.session.scalar(select(Agent).where(Agent.name == "li"))
        wang = db.session.scalar(select(Agent).where(Agent.name == "wang"))
        assert li is not None and wang is not None
        assert (li.timezone, li.languages, li.presence) == ("Europe/Berlin", ["zh", "en"],
                                                           Presence.AVAILABLE)  # fmt: skip
        assert wang.timezone == "Asia/Tokyo"


def test_values_no_column_can_hold_are_refused_with_a_message(app: Flask) -> None:
    not_text = "li\udcff"  # what Python makes of a shell argument that is not UTF-8
    refused = [
        (["agents", "create", "x" * 65, "--password", "correct horse"], "at most 64"),
        (["agents", "create", not_text, "--password", "correct horse"], "not UTF-8"),
        (["agents", "create", "li", "--password", "correct horse", "--phone", "9" * 65], "at most 64"),
        (["agents", "create", "li", "--password", "correct horse", "--timezone", "Mars/Base"], "IANA"),
        (["agents", "presence", not_text, "away"], "not UTF-8"),
        (["tokens", "create", "t" * 129], "at most 128"),
        (["tokens", "create", not_text], "not UTF-8"),
    ]  # fmt: skip
    for args, reason in refused:
        result = invoke(app, *args)
        assert result.exit_code == 2 and reason in result.output, (args, result.output)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Agent)) == 0
        assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0
