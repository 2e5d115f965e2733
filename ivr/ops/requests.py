"""Guards every request passes first: a body that can be read, no NUL characters."""

from __future__ import annotations

from flask import abort, request
from werkzeug.exceptions import HTTPException


def read_body() -> None:
    """Read a request's body before anything parses it; a body that cannot be read gets a 400.

    A malformed chunked body raised the server's own error from inside form parsing, where a
    webhook's catch-all answered it with an apology instead of a 4xx.
    """
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    try:
        request.get_data(cache=True)
    except HTTPException:
        raise  # 413 for a body over the limit, 400 for a client that went away
    except Exception:  # the WSGI server's parse errors (gunicorn's ParseException), socket errors
        abort(400, "the request body could not be read")


def refuse_nul_bytes() -> None:
    """400 for a NUL anywhere in the URL or form: PostgreSQL text cannot hold one (a 500 else)."""
    values = [request.path, *request.args.values(), *request.form.values()]
    if any("\x00" in value for value in values):
        abort(400, "the request holds a NUL character")
