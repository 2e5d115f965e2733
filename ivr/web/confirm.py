"""Destructive actions ask first: the browser's confirm(), or a page asking when scripts are off.

A form marked ``data-confirm="question"`` is asked about by forms.js, which then adds
``confirmed=1``. A form that arrives without it is answered with a page asking the same
question, whose button sends the same fields again with ``confirmed=1``; nothing is done before.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import render_template, request

from ivr.web.nav import page_of_form

F = TypeVar("F", bound=Callable[..., Any])
NOT_ASKED_AGAIN = frozenset({"csrf_token", "form_key", "confirmed"})


def confirm_first(question: Callable[..., str], answer: Callable[[], str]) -> Callable[[F], F]:
    """Do the view only once confirmed; ``question`` gets the view's URL values."""

    def wrap(view: F) -> F:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if request.form.get("confirmed") == "1":
                return view(*args, **kwargs)
            fields = [(name, value) for name, value in request.form.items(multi=True)
                      if name not in NOT_ASKED_AGAIN]  # fmt: skip
            return render_template("confirm.html", question=question(**kwargs), answer=answer(),
                                   action=request.path, fields=fields, back=page_of_form())  # fmt: skip

        return checked  # type: ignore[return-value]

    return wrap
