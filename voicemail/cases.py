"""Case numbers callers can say and type, and the case lookup the phone menu uses."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.audit import CASE_REASSIGN, CASE_STATUS, audit
from ivr.callflow.call_log import log_event
from ivr.callflow.flow import Lookup, StatusInfo
from ivr.clock import utcnow
from ivr.models import Agent, Call
from ivr.notices import notify
from ivr.queues.agents import active_agent
from ivr.text import whole_number
from voicemail.models import CaseStatus, Voicemail

CASE_DIGITS = 8  # seven random digits and a check digit: short to say, mistypes are caught


def luhn_digit(digits: str) -> str:
    """The Luhn check digit for ``digits``."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char) * (2 if i % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def new_case_number() -> str:
    """A random case number with no leading zero and a Luhn check digit."""
    body = str(secrets.randbelow(9_000_000) + 1_000_000)
    return body + luhn_digit(body)


def is_case_number(number: str) -> bool:
    """Whether ``number`` could be a case number (right length, check digit matches)."""
    return (
        len(number) == CASE_DIGITS
        and whole_number(number) is not None
        and luhn_digit(number[:-1]) == number[-1]
    )


def find_case_in(session: Session) -> Lookup:
    """The case lookup for the phone menu: a voicemail's case status by its number."""

    def find(number: str) -> StatusInfo | None:
        if not is_case_number(number):
            return None
        message = session.scalar(select(Voicemail).where(Voicemail.case_number == number))
        return None if message is None else StatusInfo(number, message.case_status)

    return find


def set_case_status(message: Voicemail, status: CaseStatus) -> None:
    """Move a case on; the first answer is timed against the reply promise."""
    message.case_status = status
    if status in (CaseStatus.ANSWERED, CaseStatus.RESOLVED) and message.answered_at is None:
        message.answered_at = utcnow()


def audit_case_status(message: Voicemail, status: CaseStatus, *, via: str, actor: str = "") -> None:
    """An audit line for a case moved to ``status`` (call before the change: it reads the old)."""
    audit(
        CASE_STATUS,
        actor=actor,
        target=f"voicemail:{message.id}",
        detail={"case": message.case_number, "from": message.case_status, "to": status,
                "via": via},
    )  # fmt: skip


def reassign_case(
    session: Session, message: Voicemail, to: Agent, *, by: Agent, url: str
) -> Agent | None:
    """Give a message's case to another agent; returns who had it (None if nobody did).

    Whoever had it is told, and so is the new owner (unless either is the one reassigning);
    the audit log keeps it as ``case_reassign`` and the call's timeline says so. A case still
    new is in hand from now on, as when an agent takes it. The caller commits.
    """
    before = session.get(Agent, message.assigned_agent_id) if message.assigned_agent_id else None
    active_agent(to)  # AgentError: nobody gives a case to a disabled agent
    detail = {"case": message.case_number, "by": by.shown_name, "to": to.shown_name,
              "from": before.shown_name if before else "", "url": url}  # fmt: skip
    audit(CASE_REASSIGN, target=f"voicemail:{message.id}",
          detail={"case": message.case_number, "from": before.name if before else "",
                  "to": to.name})  # fmt: skip
    if message.case_status == CaseStatus.RECEIVED:
        audit_case_status(message, CaseStatus.IN_PROGRESS, via="reassign")
        message.case_status = CaseStatus.IN_PROGRESS
    message.assigned_agent_id = to.id
    if before is not None and before.id not in (to.id, by.id):
        notify(session, before.id, "case_taken", **detail)
    if to.id != by.id and (before is None or before.id != to.id):
        notify(session, to.id, "case_given", **detail)
    call = session.get(Call, message.call_id) if message.call_id else None
    if call is None and message.call_sid:
        call = session.scalar(select(Call).where(Call.sid == message.call_sid))
    if call is not None:
        log_event(session, call, "case_reassigned", case=message.case_number,
                  **{"from": detail["from"], "to": detail["to"], "by": detail["by"]})  # fmt: skip
    return before
