"""Pages in 简体中文 and English (Flask-Babel), dates in the agent's own time zone."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, request, session
from flask_babel import Babel, get_locale
from flask_login import current_user

from ivr.clock import DEFAULT_TIMEZONE, site_timezone
from ivr.hotline import hotline
from ivr.numbers import shown_number, shown_text
from ivr.web.labels import (
    category_name,
    detail_words,
    label,
    language_name,
    node_name,
    party_words,
    path_words,
    queue_label,
    why_no_transcript,
)
from ivr.web.timeline import duration_words, event_sentence

LANGUAGES = ("zh", "en")
babel = Babel()


def select_locale() -> str:
    """The agent's own setting, else this browser session's choice, else the browser's."""
    if current_user and current_user.is_authenticated and current_user.locale in LANGUAGES:
        return current_user.locale
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    return request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]


def select_timezone() -> str:
    """The agent's time zone, else the call centre's."""
    if current_user and current_user.is_authenticated and current_user.timezone:
        return current_user.timezone
    return site_timezone()


def reader_zone() -> ZoneInfo:
    """The zone dates are shown in for this request (China time if the name is unknown here)."""
    try:
        return ZoneInfo(select_timezone())
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC time shown in the agent's time zone."""
    if value is None:
        return ""
    return value.astimezone(reader_zone()).strftime(fmt)


def topic_name(topic: str) -> str:
    """A topic as the menu names it, in the page's language."""
    menu = hotline().menu
    return menu.name_of(menu.topics, topic, str(get_locale().language))


def init_i18n(app: Flask) -> None:
    """Bind Babel and the template helpers."""
    app.config.setdefault(
        "BABEL_TRANSLATION_DIRECTORIES", str(Path(__file__).with_name("translations"))
    )
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.filters["caller"] = shown_number  # masked for agents without the right
    app.jinja_env.filters["caller_text"] = shown_text
    app.jinja_env.globals.update(
        topic_name=topic_name, get_locale=get_locale, label=label, language_name=language_name,
        node_name=node_name, path_words=path_words, queue_label=queue_label, category_name=category_name,
        event_sentence=event_sentence, duration_words=duration_words,
        why_no_transcript=why_no_transcript, party_words=party_words, detail_words=detail_words,
    )  # fmt: skip
