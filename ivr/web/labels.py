"""Words for the values pages show from the database (statuses, outcomes, roles …).

``{{ _(value) }}`` marked a database value as safe HTML; ``label(kind, value)`` looks the value up
in a table of translations of its kind and always returns escaped text: a value nobody
translated is shown as it is, escaped.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from markupsafe import Markup, escape

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
        "self_service": _l("self_service"),
        "agent": _l("agent"),
        "voicemail": _l("voicemail"),
        "callback": _l("callback"),
        "abandoned": _l("abandoned"),
        "failed": _l("failed"),
        "in progress": _l("in progress"),
    },
    "call_status": {
        "completed": _l("completed"),
        "in-progress": _l("in-progress"),
        "ringing": _l("ringing"),
        "busy": _l("busy"),
        "failed": _l("failed"),
        "no-answer": _l("no-answer"),
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
        "in_progress": _l("in_progress"),
        "answered": _l("answered"),
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
    },
    "mode": {"monitor": _l("monitor"), "whisper": _l("whisper"), "barge": _l("barge")},
    "live_call": {"talking": _l("talking"), "ringing": _l("ringing")},
}


def label(kind: str, value: object) -> Markup:
    """The translated word for ``value`` of this kind, escaped; the raw value, escaped, if none."""
    text = "" if value is None else str(value)
    word = LABELS.get(kind, {}).get(text)
    return escape(str(word) if word is not None else text)
