"""Reading pages as a person does: the visible words of every page the web app serves."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from html.parser import HTMLParser

from flask import Flask
from flask.testing import FlaskClient

# Text a reader sees besides the elements' content.
SHOWN_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")
HIDDEN_ELEMENTS = ("script", "style", "template")
RAW_KEY = re.compile(r"\b[a-z]+_[a-z_]+\b")
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]")
# Latin words a Chinese page may show: names of products and formats, units, identifiers.
ALLOWED_LATIN = {
    "Twilio", "CSV", "JSON", "API", "ID", "IVR", "URL", "PDF", "MP3", "WAV", "WebM", "Ogg",
    "Prometheus", "OpenAPI", "SMTP", "Webhook", "webhook", "HTTP", "HTTPS", "CER", "SLA",
    "IANA", "UTC", "GMT", "CST", "Etc", "Asia", "Shanghai", "PIN", "SIP", "Vosk", "ok",
    "English", "hotline", "Hotline", "Bearer", "Authorization", "curl", "GET", "POST",
    "metrics", "read", "write", "erase",  # token scopes as the API and CLI spell them
    "min", "ms", "kB", "MB", "KB", "px", "AM", "PM", "am", "pm",
}  # fmt: skip
ALLOWED_LATIN |= {"Shift"}  # a key's name, as keyboards print it


class VisibleText(HTMLParser):
    """Collects the text of a page a person can see or hear, one string per piece."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HIDDEN_ELEMENTS:
            self.hidden += 1
        shown = dict(attrs)
        if tag == "input" and shown.get("type") == "hidden":
            return
        for name in SHOWN_ATTRIBUTES:
            if shown.get(name):
                self.pieces.append(str(shown[name]))
        if tag == "input" and shown.get("type") in ("submit", "button") and shown.get("value"):
            self.pieces.append(str(shown["value"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN_ELEMENTS and self.hidden:
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden and data.strip():
            self.pieces.append(data.strip())


def visible_text(html: str) -> list[str]:
    """The pieces of text a page shows."""
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    return parser.pieces


def csv_header(body: str) -> list[str]:
    """The column names of a CSV export."""
    return next(csv.reader(io.StringIO(body.lstrip("\ufeff"))), [])


def page_urls(app: Flask, examples: Mapping[str, object]) -> Iterator[tuple[str, str]]:
    """(endpoint, URL) of every GET page: rules without arguments, and one example of each rule
    with arguments whose values ``examples`` gives by argument name (or by endpoint)."""
    with app.test_request_context():
        from flask import url_for

        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if "GET" not in (rule.methods or ()) or rule.endpoint.endswith("static"):
                continue
            if not rule.arguments:
                yield rule.endpoint, url_for(rule.endpoint)
                continue
            values = examples.get(rule.endpoint) or {
                name: examples[name] for name in rule.arguments if name in examples
            }
            if isinstance(values, dict) and set(values) >= set(rule.arguments):
                yield rule.endpoint, url_for(rule.endpoint, **values)


def words_out_of_place(pieces: list[str], chinese: bool, allowed: set[str]) -> list[str]:
    """Raw keys (snake_case) on any page; on a Chinese page also any Latin word not allowed."""
    found: list[str] = []
    for piece in pieces:
        found += [key for key in RAW_KEY.findall(piece) if key not in allowed]
        if chinese:
            found += [
                word
                for word in LATIN_WORD.findall(piece)
                if word not in ALLOWED_LATIN and word not in allowed
            ]
    return found


def read_pages(
    client: FlaskClient, urls: list[tuple[str, str]], chinese: bool, allowed: set[str]
) -> dict[str, list[str]]:
    """URL → the words out of place on it, for every page that has any."""
    wrong: dict[str, list[str]] = {}
    for _, url in urls:
        reply = client.get(url)
        if reply.status_code in (301, 302, 303, 307, 308):
            continue  # a browser follows it; nobody sees its body
        if reply.mimetype == "text/html":
            pieces = visible_text(reply.get_data(as_text=True))
        elif reply.mimetype == "text/csv":
            pieces = csv_header(reply.get_data(as_text=True))
        else:
            reply.close()  # audio and JSON: for programs and players
            continue
        found = words_out_of_place(pieces, chinese, allowed)
        if found:
            wrong[url] = sorted(set(found))
    return wrong
