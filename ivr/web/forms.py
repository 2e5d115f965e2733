"""Forms of the web pages (Flask-WTF) and their CSRF protection."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()


class PageForm(FlaskForm):
    """A form of our pages: its fields are read from the posted form alone.

    Flask-WTF also reads file parts and JSON bodies into the fields; a file where a name belongs,
    or a JSON list, made the form raise (a 500) instead of failing to validate.
    """

    def __init__(self, **values: Any) -> None:
        submitted = request.method in ("POST", "PUT", "PATCH", "DELETE")
        super().__init__(formdata=request.form if submitted else None, **values)
