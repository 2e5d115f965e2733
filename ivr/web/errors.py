"""Error pages in the reader's language and the app's layout (403, 404, 500 …)."""

from __future__ import annotations

from flask import Response, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

WHAT_HAPPENED = {
    400: (_l("The request could not be understood"), _l("Go back and try again.")),
    403: (_l("Not for you"), _l("You do not have access to this page. Ask a supervisor if you need it.")),
    404: (_l("Page not found"), _l("There is no such page, or what it showed no longer exists.")),
    405: (_l("Not opened this way"), _l("This page cannot be opened this way. Start again from the menu.")),
    413: (_l("Too large"), _l("What was sent is too large.")),
    429: (_l("Too many tries"), _l("Wait a little and try again.")),
    500: (_l("Something went wrong"), _l("Something went wrong on our side. Try again in a moment.")),
    503: (_l("Not available"), _l("The service is not available just now. Try again in a moment.")),
}  # fmt: skip


def wants_page() -> bool:
    """A browser asking for a page (Twilio and API clients do not ask for HTML)."""
    return "text/html" in request.headers.get("Accept", "")


def error_page(exc: HTTPException) -> Response:
    """The error as a page of the app, translated; what went wrong in the code stays in the log."""
    code = exc.code or 500
    title, advice = WHAT_HAPPENED.get(
        code // 100 * 100 if code >= 500 else code, WHAT_HAPPENED[400]
    )
    try:
        body = render_template("error.html", code=code, title=title, advice=advice, bare=False)
    except Exception:  # the layout reads the signed-in agent: the database may be what failed
        body = render_template("error.html", code=code, title=title, advice=advice, bare=True)
    response = Response(body, code, mimetype="text/html")
    for name in ("Allow", "Retry-After", "WWW-Authenticate"):
        if name in exc.get_response().headers:
            response.headers[name] = exc.get_response().headers[name]
    return response
