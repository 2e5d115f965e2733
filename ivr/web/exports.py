"""CSV downloads that spreadsheet programs open safely (the figures, the audit log)."""

from __future__ import annotations

import csv
import io
import re

from flask import Response, request
from flask_babel import lazy_gettext as _l

# A spreadsheet runs a cell that starts like this as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
# Column names in the reader's language: the files are downloaded from pages and opened by people.
# A script asks for the stable names with ``?header=keys`` (the JSON API is the interface for
# programs; its keys never change with the language).
COLUMNS = {
    "sid": _l("Call ID"), "id": _l("ID"), "from": _l("Caller number"), "to": _l("Number called"),
    "started_at": _l("Started (UTC)"), "ended_at": _l("Ended (UTC)"), "duration": _l("Length (s)"),
    "language": _l("Language"), "menu_path": _l("Menu path"), "outcome": _l("Outcome"),
    "rating": _l("Rating"), "disposition": _l("Disposition"), "wrapup_note": _l("Wrap-up note"),
    "wrapup_agent": _l("Wrap-up by"), "case_number": _l("Case number"), "call_sid": _l("Call ID"),
    "category": _l("Topic"), "created_at": _l("Received (UTC)"), "status": _l("Status"),
    "case_status": _l("Case status"), "answered_at": _l("Answered (UTC)"),
    "transcript": _l("Transcript"), "at_utc": _l("Time (UTC)"), "at_local": _l("Local time"),
    "action": _l("Action"), "actor": _l("Who"), "target": _l("What"), "address": _l("From where"),
    "detail": _l("Details"), "agent": _l("Agent"), "queue": _l("Queue"), "callers": _l("Callers"),
    "offered": _l("Offers"), "answered": _l("Answered calls"), "missed": _l("Missed"),
    "withdrawn": _l("Withdrawn offers"), "average_answer": _l("Average time to answer (s)"),
    "talk": _l("Talk time (s)"), "average_talk": _l("Average talk (s)"), "hold": _l("Hold time (s)"),
    "holds": _l("Holds"), "wrapup": _l("Wrap-up time (s)"),
    "average_wrapup": _l("Average wrap-up (s)"), "transfers": _l("Transfers"),
    "average_rating": _l("Average rating"), "ratings": _l("Ratings"), "abandoned": _l("Abandoned"),
    "abandonment": _l("Abandonment rate"), "service_level": _l("Service level"),
}  # fmt: skip


def column_names(header: list[str]) -> list[str]:
    """The header in the reader's language; the stable names when a script asks for them."""
    if request.args.get("header") == "keys":
        return header
    return [str(COLUMNS.get(name, name)) for name in header]


def inert_cell(value: object) -> object:
    """A cell a spreadsheet shows rather than runs: text that starts like a formula gets a '.

    Callers choose their From (a SIP trunk passes on anything); phone numbers such as
    +8613800138000 and plain numbers are left as they are.
    """
    if not isinstance(value, str) or PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value if value.startswith(FORMULA_START) else value


def csv_response(name: str, header: list[str], rows: list[list[object]]) -> Response:
    """A CSV download (UTF-8 with BOM, so spreadsheet programs read Chinese correctly)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(column_names(header))
    writer.writerows([inert_cell(cell) for cell in row] for row in rows)
    response = Response("\ufeff" + out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
