"""Bearer tokens for the API: each request must carry a live token with the scope it needs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from ivr.api.errors import ApiError
from ivr.api.tokens import check_token
from ivr.database import db
from ivr.models import Scope

F = TypeVar("F", bound=Callable[..., Any])


def token_required(scope: Scope) -> Callable[[F], F]:
    """Refuse requests without a live ``Authorization: Bearer`` token holding ``scope``."""
    if not isinstance(scope, Scope):  # a bare @token_required, as before scopes existed
        raise TypeError("use @token_required(Scope.READ) or another Scope")

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise ApiError(401, "send Authorization: Bearer <token> (flask tokens create NAME)")
            row = check_token(db.session, token.strip())
            if row is None:
                raise ApiError(401, "the token is unknown or revoked")
            if scope not in row.scope_set:
                raise ApiError(403, f"this token lacks the {scope} scope this request needs")
            g.api_token = row
            return view(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate
