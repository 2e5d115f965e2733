"""Words for the values pages show from the database (statuses, outcomes, roles …).

``{{ _(value) }}`` marked a database value as safe HTML; ``label(kind, value)`` looks the value up
in a table of translations of its kind and always returns escaped text: a value nobody
translated is shown as it is, escaped.
"""

from __future__ import annotations

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from flask_babel.speaklater import LazyString
from markupsafe import Markup, escape

from ivr.hotline import hotline

LABELS: dict[str, dict[str, LazyString]] = {
    "role": {"agent": _l("agent"), "supervisor": _l("supervisor")},
    "presence": {"available": _l("available"), "busy": _l("busy"), "away": _l("away")},
    # Why an agent's presence changed (ivr/queues/agent_history.py).
    # What an agent did to their live conversation (ivr/queues/controls.py).
    "control": {
        "hold": _l("caller on hold"),
        "resume": _l("caller back from hold"),
        "mute": _l("your line muted"),
        "unmute": _l("your line unmuted"),
        "hang_up": _l("call ended"),
        "transfer": _l("caller transferred"),
        "consult": _l("the other agent's phone rings; the caller holds"),
        "hand_over": _l("caller handed over"),
        "three_way": _l("three-way call"),
        "add_number": _l("the number is called into the conversation"),
        "pause_recording": _l("recording paused"),
        "resume_recording": _l("recording resumed"),
    },
    "presence_reason": {
        "ringing": _l("phone ringing"),
        "talking": _l("talking"),
        "wrapup": _l("wrap-up"),
        "call_over": _l("call over"),
        "missed": _l("missed a call"),
        "withdrawn": _l("caller hung up"),
        "failed": _l("call failed"),
        "signed_out": _l("signed out"),
        "session_expired": _l("session expired"),
        "disabled": _l("disabled"),
    },
    "outcome": {
        "self_service": _l("self-service"),
        "agent": _l("talked to an agent"),
        "voicemail": _l("voicemail"),
        "callback": _l("callback"),
        "abandoned": _l("abandoned"),
        "failed": _l("failed"),
        "in progress": _l("in progress"),
    },
    "call_status": {
        "completed": _l("completed"),
        "in-progress": _l("in progress"),
        "ringing": _l("ringing"),
        "busy": _l("busy"),
        "failed": _l("failed"),
        "no-answer": _l("no answer"),
        "queued": _l("queued"),
        "initiated": _l("dialling"),
        "answered": _lp("call", "answered"),
        "canceled": _l("canceled"),
    },
    "entry_state": {
        "waiting": _l("waiting"),
        "offered": _l("offered"),
        "bridged": _l("bridged"),
        "callback": _l("callback"),
        "dialing": _l("dialing"),
        "done": _l("done"),
        "left": _l("left"),
        "abandoned": _l("abandoned"),
        "moved": _l("moved"),
    },
    "case_status": {
        "received": _l("received"),
        "in_progress": _l("in progress"),
        "answered": _l("answered"),  # 已答复: a message is answered; a call, 已接听
        "resolved": _l("resolved"),
    },
    "mark": {
        "received": _l("Mark received"),
        "in_progress": _l("Mark in progress"),
        "answered": _l("Mark answered"),
        "resolved": _l("Mark resolved"),
    },
    "voicemail_status": {
        "pending": _l("pending"),
        "transcribing": _l("transcribing"),
        "transcribed": _l("transcribed"),
        "untranscribed": _l("untranscribed"),
        "failed": _l("failed"),
    },
    "scope": {
        "read": _l("read"),
        "write": _l("write"),
        "metrics": _l("metrics"),
        "erase": _l("erase"),
    },
    "scope_help": {
        "read": _l("calls, messages and their audio"),
        "write": _l("case status, presence, take next, wrap-ups"),
        "metrics": _l("Prometheus /metrics"),
        "erase": _l("erase everything about a caller number"),
    },
    "kept": {
        "audio": _l("recordings' audio"),
        "transcripts": _l("transcripts"),
        "calls": _l("calls"),
        "call_events": _l("call events"),
        "queue_entries": _l("queue stays"),
        "agent_offers": _l("offers to agents"),
        "wrapups": _l("wrap-up notes"),
        "messages": _l("messages"),
        "notes": _l("notes on messages"),
        "recordings": _l("recorded conversations"),
        "search_terms": _l("search terms"),
    },
    "action": {
        "sign_in": _l("signed in"),
        "sign_in_failed": _l("sign-in failed"),
        "token_create": _l("token created"),
        "token_revoke": _l("token revoked"),
        "sign_in_throttled": _l("sign-in refused: too many tries"),
        "agent_create": _l("agent created"),
        "agent_disable": _l("agent disabled"),
        "agent_enable": _l("agent enabled"),
        "agent_update": _l("agent's languages, topics or phone changed"),
        "password_reset": _l("password reset"),
        "password_change": _l("own password changed"),
        "case_status": _l("case status changed"),
        "recording_listen": _l("recording listened to"),
        "recording_download": _l("recording downloaded"),
        "supervisor_join": _l("supervisor joined a call"),
        "supervisor_mode": _l("supervisor switched mode on a call"),
        "caller_move": _l("waiting caller moved to another queue"),
        "presence_set": _l("agent's presence set by a supervisor"),
        "caller_erase": _l("caller's data erased"),
        "recording_paused": _l("conversation recording paused"),
        "recording_resumed": _l("conversation recording resumed"),
        "case_reassign": _l("case given to another agent"),
    },
    "mode": {"monitor": _l("monitor"), "whisper": _l("whisper"), "barge": _l("barge")},
    "live_call": {"talking": _l("talking"), "ringing": _l("ringing")},
}


def label(kind: str, value: object) -> Markup:
    """The translated word for ``value`` of this kind, escaped; the raw value, escaped, if none."""
    text = "" if value is None else str(value)
    word = LABELS.get(kind, {}).get(text)
    return escape(str(word) if word is not None else text)


# Menu nodes that are not topics are named by what they do; topics by the menu file.
NODE_TYPES: dict[str, LazyString] = {
    "language": _l("language choice"),
    "menu": _l("menu"),
    "order_status": _l("order status"),
    "case_status": _l("case progress"),
    "voicemail": _l("leave a message"),
    "message": _l("leave a message"),
    "queue": _l("an agent"),
}
# Message categories that are not topics.
CATEGORIES: dict[str, LazyString] = {
    "after_call": _l("message after a call"),
    "general": _l("general question"),
}
UNNAMED = _l("unnamed")


def reader_language() -> str:
    """The page's language code (zh or en)."""
    return str(get_locale().language) if get_locale() else "en"


def language_name(code: str | None) -> str:
    """A caller's or agent's language as the menu names it for the reader."""
    if not code:
        return ""
    menu = hotline().menu
    return menu.language_names.get(code, {}).get(reader_language()) or str(UNNAMED)


def _topic(key: str) -> str | None:
    return hotline().menu.topics.get(key, {}).get(reader_language())


def node_name(node_id: str | None) -> str:
    """A menu node as the reader knows it: its topic, else what the node does."""
    if not node_id:
        return ""
    menu = hotline().menu
    node = menu.nodes.get(node_id)
    if node is not None and node.type == "queue":
        return (
            _topic(str(node.settings.get("queue", "")))
            or _topic(node_id)
            or str(NODE_TYPES["queue"])
        )
    if node is not None and node.type == "voicemail":
        after_call = node.settings.get("category") == "after_call"
        return str(CATEGORIES["after_call"] if after_call else NODE_TYPES["voicemail"])
    named = _topic(node_id)
    if named:
        return named
    if node is not None and node.type == "menu" and node_id == "main":
        return str(_l("main menu"))
    return str(NODE_TYPES.get(node.type, UNNAMED)) if node is not None else str(UNNAMED)


def category_name(category: str | None) -> str:
    """A message's category: its topic, else a name of its own."""
    if not category:
        return ""
    return _topic(category) or str(CATEGORIES.get(category) or NODE_TYPES["voicemail"])


def queue_label(queue: str | None) -> str:
    """A queue ("after_sales-en") as topic and language: "售后与退货 · 英文"."""
    if not queue:
        return ""
    topic, _, language = queue.rpartition("-")
    if not topic or language not in hotline().menu.languages:
        return _topic(queue) or str(UNNAMED)
    return f"{_topic(topic) or category_name(topic)} · {language_name(language)}"


def path_words(path: list[str]) -> str:
    """The menu nodes a call went through, named: "语言选择 › 主菜单 › 物流查询"."""
    return " › ".join(node_name(node) for node in path)


def why_no_transcript(status: object, reason: str | None) -> str:
    """Why a recording has no transcript, in the reader's words (the worker's reason is English
    for the logs)."""
    reason = (reason or "").lower()
    if str(status) == "untranscribed":
        return str(_l("Not transcribed: there is no speech model for this language yet."))
    if str(status) == "failed":
        if "silent" in reason:
            return str(_l("Transcription failed: the recording is silent."))
        if "worker stopped" in reason:
            return str(_l("Transcription failed: the worker stopped while transcribing it."))
        if "decod" in reason or "ffmpeg" in reason or "format" in reason:
            return str(_l("Transcription failed: the audio could not be read."))
        return str(_l("Transcription failed."))
    return str(_l("No transcript yet."))


PARTIES: dict[str, LazyString] = {
    "agent": _l("agent"), "token": _l("token"), "call": _l("call"), "cli": _l("command line"),
    "message": _l("message"), "recording": _l("recording"), "conversation": _l("recording"),
}  # fmt: skip
DETAIL_KEYS: dict[str, LazyString] = {
    "scopes": _l("rights"), "count": _l("how many"), "role": _l("role"), "removed": _l("removed"),
    "mode": _l("mode"), "leg": _l("line"), "from": _l("from"), "to": _l("to"), "by": _l("by"),
    "languages": _l("languages"), "topics": _l("topics"), "phone": _l("phone"),
    "sees_numbers": _l("sees caller numbers"), "presence": _l("presence"), "reason": _l("reason"),
    "kind": _l("kind"), "call": _l("call"), "queue": _l("queue"), "status": _l("status"),
    "display_name": _l("display name"), "password_made_up": _l("password made up"),
    "case": _l("case"),
}  # fmt: skip


def party_words(value: str | None) -> str:
    """An audit actor or target ("agent:li", "token:crm#3", "cli") for people: "客服 li"."""
    if not value:
        return ""
    kind, _, name = value.partition(":")
    word = PARTIES.get(kind)
    if word is None:
        return value
    return f"{word} {name}".strip()


def detail_words(detail: dict[str, object] | None) -> list[str]:
    """An audit line's details as "what: value" pieces in the reader's words."""
    pieces = []
    for key, value in (detail or {}).items():
        shown = ", ".join(map(str, value)) if isinstance(value, list | tuple) else value
        if isinstance(shown, bool):
            shown = str(_l("yes") if shown else _l("no"))
        pieces.append(f"{DETAIL_KEYS.get(key, UNNAMED)}: {shown}")
    return pieces
