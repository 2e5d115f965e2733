"""Response headers every page and API answer carries: what a browser may load, run and frame.

Set in one ``after_request`` hook rather than through flask-talisman: the five headers are fixed
strings, and Talisman's HTTPS redirects and HSTS belong to the TLS proxy in front of us.
"""

from __future__ import annotations

from flask import Flask, Response

# No inline script or style anywhere: the pages' JavaScript and CSS are files under /static.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def init_security_headers(app: Flask) -> None:
    """Send ``HEADERS`` on every response (gunicorn's Server line is emptied in its hooks)."""

    @app.after_request
    def protect(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response
