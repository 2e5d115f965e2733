"""The API's one error shape: ``{"error": {"status": …, "message": …}}`` for every failure."""

from __future__ import annotations

import logging

from flask import Response, jsonify, request
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from ivr.api import bp
from ivr.database import db

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered as JSON: ``{"error": {"status": …, "message": …}}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> Response:
    """The one shape every API error takes."""
    response = jsonify({"error": {"status": status, "message": message}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="hotline"'
    return response


@bp.errorhandler(Exception)
def api_error(exc: Exception) -> Response:
    """Every failure under /api/v1 is JSON, and a 500 says no more than that."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.message)
    if isinstance(exc, HTTPException):
        return error_response(exc.code or 500, exc.description or exc.name)
    if isinstance(exc, DataError):
        # The database refused a value the client sent (a NUL character on PostgreSQL…).
        db.session.rollback()
        return error_response(400, "a parameter holds a value the database cannot take")
    log.exception("API request %s failed", request.path)
    db.session.rollback()
    return error_response(500, "internal error; the details are in the server log")
