"""The agents' navigation, as the app wires it: ivr's templates name no other package's pages.

The app lists the links in order (voicemail's inbox and figures among the call side's pages) and
says which page is home; ``base.html`` and ``call.html`` draw what they are given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import Flask, current_app, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect


@dataclass(frozen=True)
class PageLink:
    """A link to a page: its label (``lazy_gettext``, translated as drawn) and endpoint."""

    label: str
    endpoint: str
    values: Mapping[str, object] = field(default_factory=dict)
    supervisors_only: bool = False

    def url(self, **more: object) -> str:
        """The page's URL, with ``more`` query values (a call's page adds ``call``)."""
        return url_for(self.endpoint, **self.values, **more)


@dataclass(frozen=True)
class Navigation:
    """Where agents land, the links atop every page, and the links on a call's page."""

    home: str  # the endpoint "/", the brand and signing in lead to
    links: Sequence[PageLink]
    # Each gets the call's sid as ``call``.
    call_links: Sequence[PageLink] = ()
    # The newest messages' JSON (``newest``, ``new`` after ``?after=``) the notices poll.
    news: str = ""


def init_nav(app: Flask, navigation: Navigation) -> None:
    """Give every template the app's navigation."""
    app.extensions["hotline.nav"] = navigation
    app.context_processor(lambda: {"navigation": navigation})


def home_url() -> str:
    """The page agents land on."""
    return url_for(current_app.extensions["hotline.nav"].home)


def is_page(path: str) -> bool:
    """Whether ``path`` is a page of this site a browser may open (a GET), not a form's URL."""
    adapter = current_app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(path, method="GET")
    except RequestRedirect:  # the same page with a slash added
        return True
    except HTTPException:  # not found, or POST only (opening it is a 405)
        return False
    return endpoint != "static"


def page_of_form() -> str:
    """The page the sent form was on: where the agent came from, else the nearest page above
    the form's URL (``/inbox/5/notes`` was sent from ``/inbox/5``)."""
    if request.referrer:
        came = urlsplit(request.referrer)
        if came.netloc == request.host and is_page(came.path):
            return came.path + (f"?{came.query}" if came.query else "")
    path = request.path.rstrip("/")
    while path:
        if is_page(path):
            return path
        path = path.rpartition("/")[0]
    return home_url()
