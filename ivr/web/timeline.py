"""A call's events as sentences in the reader's language ("按了 2 键，选择物流查询")."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask_babel import gettext as _

from ivr.hotline import hotline
from ivr.models import CallEvent
from ivr.numbers import shown_number
from ivr.web.labels import (
    category_name,
    label,
    language_name,
    node_name,
    queue_label,
    reader_language,
)


def duration_words(seconds: object) -> str:
    """35 → "35 秒"; 192 → "3 分 12 秒" (English: "35 s", "3 min 12 s")."""
    try:
        total = max(int(float(str(seconds))), 0)
    except ValueError:
        return ""
    minutes, rest = divmod(total, 60)
    if not minutes:
        return _("%(s)s s", s=rest)
    return _("%(m)s min %(s)s s", m=minutes, s=rest)


def _choice(node_id: str | None, digits: str) -> str:
    """What pressing ``digits`` at a node chose, named for the reader ("" if not an option)."""
    node = hotline().menu.nodes.get(node_id or "")
    if node is None or digits not in node.options:
        return ""
    target = node.options[digits]
    return language_name(target) if node.type == "language" else node_name(target)


def _keys(node: str | None, d: Mapping[str, Any]) -> str:
    digits = str(d.get("digits", ""))
    chosen = _choice(node, digits)
    if chosen:
        return _("Pressed %(digits)s, chose %(choice)s", digits=digits, choice=chosen)
    return _("Entered %(digits)s at %(node)s", digits=digits, node=node_name(node))


def _lookup(what: str) -> Callable[[str | None, Mapping[str, Any]], str]:
    def sentence(node: str | None, d: Mapping[str, Any]) -> str:
        number, result = d.get("number", ""), d.get("result")
        if result == "found":
            menu, lang = hotline().menu, reader_language()
            table = menu.order_statuses if what == "order" else menu.case_statuses
            status = table.get(str(d.get("status")), {}).get(lang) or _("a status of its own")
            if what == "order":
                return _("Looked up order %(number)s: %(status)s", number=number, status=status)
            return _("Looked up case %(number)s: %(status)s", number=number, status=status)
        if result == "not_found":
            if what == "order":
                return _("Order %(number)s was not found", number=number)
            return _("Case %(number)s was not found", number=number)
        if what == "order":
            return _("Order %(number)s could not be looked up", number=number)
        return _("Case %(number)s could not be looked up", number=number)

    return sentence


def _queue_left(node: str | None, d: Mapping[str, Any]) -> str:
    results = {
        "bridged": _("talked to an agent"),
        "redirected": _("went on"),
        "redirected-from-bridged": _("went on"),
        "hangup": _("hung up"),
        "leave": _("left the queue"),
        "queue-full": _("the queue was full"),
        "error": _("something went wrong"),
        "system-error": _("something went wrong"),
    }
    result = results.get(str(d.get("result")), _("left the queue"))
    return _("Left the queue after waiting %(wait)s (%(result)s)",
             wait=duration_words(d.get("waited") or 0), result=result)  # fmt: skip


def _transferred(node: str | None, d: Mapping[str, Any]) -> str:
    to = d.get("to")
    target = node_name(to) if to in hotline().menu.nodes else (to or _("another agent"))
    return _("%(agent)s transferred the caller to %(to)s", agent=d.get("agent", ""), to=target)


def _status(node: str | None, d: Mapping[str, Any]) -> str:
    status = label("call_status", d.get("status"))
    if d.get("duration") is not None:
        return _("Call %(status)s, %(length)s in all", status=status,
                 length=duration_words(d["duration"]))  # fmt: skip
    return _("Call %(status)s", status=status)


SENTENCES: dict[str, Callable[[str | None, Mapping[str, Any]], str]] = {
    "incoming": lambda n, d: _("Called from %(number)s", number=shown_number(d.get("from"))),
    "node": lambda n, d: _("Reached %(node)s", node=node_name(n)),
    "keys": _keys,
    "invalid_input": lambda n, d: _("Pressed %(digits)s: not an option", digits=d.get("digits")),
    "no_input": lambda n, d: _("Pressed nothing (try %(n)s)", n=d.get("attempt", 1)),
    "repeat": lambda n, d: _("Asked to hear the menu again"),
    "language": lambda n, d: (
        _("Language: %(name)s", name=language_name(d.get("language")))
        if d.get("chosen_by") == "key"
        else _("Language: %(name)s (by default)", name=language_name(d.get("language")))
    ),
    "closed_hours": lambda n, d: _("Called outside opening hours"),
    "queue_unavailable": lambda n, d: _("No queue could take the call"),
    "voicemail_unavailable": lambda n, d: _("Leaving a message was not available"),
    "gave_up": lambda n, d: _(
        "No choice after %(n)s tries: on to %(node)s",
        n=d.get("attempts", ""),
        node=node_name(d.get("to")),
    ),
    "order_lookup": _lookup("order"),
    "case_lookup": _lookup("case"),
    "queue_entered": lambda n, d: _(
        "Joined the queue %(queue)s: %(waiting)s waiting, %(agents)s agents signed in",
        queue=queue_label(d.get("queue")),
        waiting=d.get("waiting", 0),
        agents=d.get("agents", 0),
    ),
    "queue_position": lambda n, d: _(
        "Number %(position)s in line after waiting %(wait)s",
        position=d.get("position", ""),
        wait=duration_words(d.get("waited") or 0),
    ),
    "queue_key": lambda n, d: (
        _("Pressed %(digits)s while waiting: asked to be called back", digits=d.get("digits"))
        if d.get("chose") == "callback"
        else _("Pressed %(digits)s while waiting: chose to leave a message", digits=d.get("digits"))
    ),
    "queue_left": _queue_left,
    "queue_timeout": lambda n, d: _(
        "Waited %(wait)s: too long", wait=duration_words(d.get("waited") or 0)
    ),
    "bridged": lambda n, d: _(
        "Put through to %(agent)s after waiting %(wait)s",
        agent=d.get("agent", ""),
        wait=duration_words(d.get("waited") or 0),
    ),
    "bridge_failed": lambda n, d: _("Could not put through to %(agent)s", agent=d.get("agent", "")),
    "conversation_started": lambda n, d: _("The conversation began"),
    "conversation_ended": lambda n, d: _(
        "Talked with %(agent)s for %(talk)s",
        agent=d.get("agent", ""),
        talk=duration_words(d.get("talk") or 0),
    ),
    "callback_done": lambda n, d: _(
        "Called back: talked with %(agent)s for %(talk)s",
        agent=d.get("agent", ""),
        talk=duration_words(d.get("talk") or 0),
    ),
    "callback_unanswered": lambda n, d: _("The call back was not answered"),
    "callback_gave_up": lambda n, d: _(
        "Gave up calling back after %(n)s tries", n=d.get("tries", "")
    ),
    "held": lambda n, d: (
        _("Caller put on hold") if d.get("party") == "caller" else _("Agent put on hold")
    ),
    "resumed": lambda n, d: (
        _("Caller back from hold") if d.get("party") == "caller" else _("Agent back from hold")
    ),
    "transferred": _transferred,
    "consulting": lambda n, d: _(
        "%(agent)s asked %(to)s for help", agent=d.get("agent", ""), to=d.get("to", "")
    ),
    "number_added": lambda n, d: _(
        "%(agent)s called %(number)s into the conversation",
        agent=d.get("agent", ""),
        number=shown_number(d.get("number")),
    ),
    "supervisor_joined": lambda n, d: _(
        "Supervisor %(name)s joined (%(mode)s)",
        name=d.get("supervisor") or "",
        mode=label("mode", d.get("mode")),
    ),
    "supervisor_mode": lambda n, d: _(
        "Supervisor %(name)s switched to %(mode)s",
        name=d.get("supervisor") or "",
        mode=label("mode", d.get("mode")),
    ),
    "supervisor_left": lambda n, d: _("Supervisor %(name)s left", name=d.get("supervisor") or ""),
    "moved": lambda n, d: _(
        "%(by)s moved the caller from %(from)s to %(to)s",
        by=d.get("by", ""),
        **{"from": queue_label(d.get("from"))},
        to=node_name(d.get("to")),
    ),
    "move_failed": lambda n, d: _("Moving the caller to %(to)s failed", to=node_name(d.get("to"))),
    "rating": lambda n, d: (
        _("Rated the call %(n)s out of 5", n=d["rating"])
        if d.get("rating")
        else _("Gave no rating")
    ),
    "status": _status,
    "case_reassigned": lambda n, d: _(
        "%(by)s gave case %(case)s to %(to)s",
        by=d.get("by", ""),
        case=d.get("case", ""),
        to=d.get("to", ""),
    ),
    "voicemail_recorded": lambda n, d: _(
        "Left a message of %(length)s (%(category)s), case %(case)s",
        length=duration_words(d.get("duration") or 0),
        category=category_name(_category(n)),
        case=d.get("case_number", ""),
    ),
}


def _category(node_id: str | None) -> str:
    node = hotline().menu.nodes.get(node_id or "")
    return str(node.settings.get("category") or node_id) if node is not None else ""


def event_sentence(event: CallEvent) -> str:
    """One event of a call, said as a sentence; an event nobody wrote words for says so."""
    sentence = SENTENCES.get(event.kind)
    if sentence is None:
        return _("Something else happened")
    return sentence(event.node, event.detail or {})
