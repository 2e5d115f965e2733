"""CSV downloads that spreadsheet programs open safely (the figures, the audit log)."""

from __future__ import annotations

import csv
import io
import re

from flask import Response

# A spreadsheet runs a cell that starts like this as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


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
    writer.writerow(header)
    writer.writerows([inert_cell(cell) for cell in row] for row in rows)
    response = Response("\ufeff" + out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
