"""A message and its call's outcome commit together, or neither does, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select

from ivr.database import db
from ivr.models import Call
from tests.factories import SID, messages, path_of, recording, to_message_node
from tests.signed_http import TwilioOverHttp


@pytest.fixture
def outcome_write_fails(app: Flask) -> Iterator[None]:
    """The real engine fails the statement that writes a call's outcome, as a dying disk would."""

    def refuse(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE CALLS") and "outcome" in statement:
            raise OSError("the disk failed while the call's outcome was written")

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", refuse)
    yield
    event.remove(engine, "before_cursor_execute", refuse)


def test_a_failure_before_the_outcome_commits_keeps_no_message(
    app: Flask, live_server: str, request: pytest.FixtureRequest
) -> None:
    http = TwilioOverHttp(live_server)
    record = to_message_node(http).root.find("Record")  # type: ignore[arg-type]
    assert record is not None
    request.getfixturevalue("outcome_write_fails")
    # The call exists already, so the Record action's first write is the message's savepoint.
    reply = http.post(path_of(record.get("action", "")), recording(Digits="#"))
    assert reply.status_code == 200  # the caller hears the apology, not silence
    assert messages(app) == []
    with app.app_context():
        assert db.session.scalar(select(Call.outcome).where(Call.sid == SID)) is None
