"""A supervisor gives a message's case to another agent: the one who had it is told on their
inbox and board until they mark it seen, the audit log and the call's timeline keep it."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.clock import utcnow
from ivr.database import db
from ivr.models import AgentNotice, AuditEvent, Call, Role
from ivr.queues.agents import create_agent
from tests.factories import add_message, csrf, sign_in
from tests.pages import visible_text
from voicemail.models import CaseStatus, Voicemail

NOTICE = re.compile(r'<li data-kind="(\w+)"><time>[^<]*</time> ([^\n<]*)')


def people(app: Flask) -> dict[str, int]:
    with app.app_context():
        made = {
            "boss": create_agent(
                db.session, "boss", password="correct horse", role=Role.SUPERVISOR
            ),
            "li": create_agent(db.session, "li", password="correct horse"),
            "wang": create_agent(db.session, "wang", password="correct horse"),
            "zhao": create_agent(db.session, "zhao", password="correct horse"),
        }
        made["wang"].display_name = "王芳"
        made["zhao"].disabled_at = utcnow()
        db.session.commit()
        return {name: agent.id for name, agent in made.items()}


def client_of(app: Flask, name: str, language: str = "en") -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    assert sign_in(client, name).status_code == 302
    return client


def notices_on(client: FlaskClient, path: str) -> list[tuple[str, str]]:
    return [
        (kind, text.strip())
        for kind, text in NOTICE.findall(client.get(path).get_data(as_text=True))
    ]


def test_a_supervisor_reassigns_a_case_and_the_previous_owner_is_told(app: Flask) -> None:
    ids = people(app)
    ident = add_message(app)
    with app.app_context():
        db.session.add(Call(sid="CA" + "1" * 32, from_number="+8613800138000"))
        db.session.commit()
    boss, li, wang = client_of(app, "boss"), client_of(app, "li", "zh"), client_of(app, "wang")
    li.post(f"/inbox/{ident}/assign", data={"csrf_token": csrf(li, f"/inbox/{ident}")})

    li_page = li.get(f"/inbox/{ident}").get_data(as_text=True)
    assert 'id="reassign"' not in li_page  # agents do not give cases away
    refused = li.post(f"/inbox/{ident}/reassign",
                      data={"csrf_token": csrf(li, "/inbox"), "agent": ids["wang"]})  # fmt: skip
    assert refused.status_code == 403
    page = boss.get(f"/inbox/{ident}").get_data(as_text=True)
    form = page[page.index('id="reassign"') : page.index("</form>", page.index('id="reassign"'))]
    offered = re.findall(r'<option value="(\d+)">([^<]+)</option>', form)
    assert offered == [
        (str(ids["boss"]), "boss"),
        (str(ids["wang"]), "王芳 (wang)"),
    ]  # not li, nor zhao

    token = csrf(boss, f"/inbox/{ident}")
    disabled = boss.post(f"/inbox/{ident}/reassign", data={"csrf_token": token, "agent": ids["zhao"]},
                         follow_redirects=True)  # fmt: skip
    assert "The case was not given: zhao is disabled" in disabled.get_data(as_text=True)
    same = boss.post(f"/inbox/{ident}/reassign", data={"csrf_token": token, "agent": ids["li"]},
                     follow_redirects=True)  # fmt: skip
    assert "Case 10000001 is with li already." in same.get_data(as_text=True)
    done = boss.post(f"/inbox/{ident}/reassign", data={"csrf_token": token, "agent": ids["wang"]},
                     follow_redirects=True)  # fmt: skip
    shown = done.get_data(as_text=True)
    assert "Case 10000001 is now with 王芳; li is told." in shown
    assert "boss gave case 10000001 to 王芳" in shown  # the call's timeline on the message's page
    with app.app_context():
        message = db.session.get(Voicemail, ident)
        assert message is not None
        assert (message.assigned_agent_id, message.case_status) == (
            ids["wang"],
            CaseStatus.IN_PROGRESS,
        )
        [line] = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "case_reassign")
        ).all()
        assert (line.actor, line.target) == ("agent:boss", f"voicemail:{ident}")
        assert line.detail == {"case": "10000001", "from": "li", "to": "wang"}

    # The one who had it sees it on their inbox and board (in their language) until seen.
    told = [("case_taken", "boss 已将您的工单 10000001 改派给 王芳。")]
    assert notices_on(li, "/inbox") == told and notices_on(li, "/board") == told
    assert notices_on(li, "/inbox") == told  # still there on the next page until marked seen
    assert f'href="/inbox/{ident}"' in li.get("/board").get_data(as_text=True)
    assert notices_on(wang, "/inbox") == [
        ("case_given", "boss gave you case 10000001 (it was with li).")
    ]
    assert notices_on(boss, "/inbox") == []
    with app.app_context():
        li_notices = db.session.scalars(
            select(AgentNotice.id).where(AgentNotice.agent_id == ids["li"])
        ).all()
        wang_notice = db.session.scalars(
            select(AgentNotice.id).where(AgentNotice.agent_id == ids["wang"])
        ).one()
    token = csrf(li, "/inbox")
    li.post(
        "/notices/seen",
        data={"csrf_token": token, "notice": [*map(str, li_notices), str(wang_notice)]},
    )
    assert notices_on(li, "/inbox") == [] and notices_on(li, "/board") == []
    assert len(notices_on(wang, "/board")) == 1  # another's notice is theirs to mark
    assert not [piece for piece in visible_text(li.get("/inbox").get_data(as_text=True))
                if re.search(r"\bgave\b|case_", piece)]  # fmt: skip
