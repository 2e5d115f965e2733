"""What a number left with the voicemail side, for the agents' screen pop: messages and cases."""

from __future__ import annotations

from flask import url_for
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.web.i18n import localtime
from ivr.web.labels import label
from voicemail.models import CaseStatus, Voicemail

RECENT = 5
OPEN = (CaseStatus.RECEIVED, CaseStatus.IN_PROGRESS)  # not yet answered
OPEN_LIMIT = 20


def messages_and_cases(session: Session, number: str) -> list[tuple[str, str]]:
    """The number's latest messages and its open cases, newest first, as (label, url)."""
    by_number = select(Voicemail).where(Voicemail.from_number == number)
    newest = Voicemail.created_at.desc(), Voicemail.id.desc()
    found = {m.id: m for m in session.scalars(by_number.order_by(*newest).limit(RECENT))}
    opened = by_number.where(Voicemail.case_status.in_(OPEN)).order_by(*newest).limit(OPEN_LIMIT)
    found.update({m.id: m for m in session.scalars(opened)})
    ordered = sorted(found.values(), key=lambda m: (m.created_at, m.id), reverse=True)
    return [
        (
            gettext(
                "Message of %(when)s, case %(case)s: %(status)s",
                when=localtime(m.created_at),
                case=m.case_number,
                status=str(label("case_status", m.case_status)),
            ),
            url_for("inbox.show", message_id=m.id),
        )
        for m in ordered
    ]
