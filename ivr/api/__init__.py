"""The JSON API under /api/v1: call records for other systems, behind bearer tokens.

The blueprint is made here; each module below adds its routes to it (``calls``, ``agents``,
``openapi``), ``errors`` gives every failure one JSON shape, ``auth`` checks tokens.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Imported for their routes, after bp exists: they add themselves to it.
from ivr.api import agents, calls, errors, openapi  # noqa: E402

__all__ = ["agents", "bp", "calls", "errors", "openapi"]
