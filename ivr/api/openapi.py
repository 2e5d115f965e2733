"""The OpenAPI description of /api/v1, served at /api/v1/openapi.json and tested for conformance."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from ivr.api import bp

NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_INT = {"type": ["integer", "null"]}
NULLABLE_NUMBER = {"type": ["number", "null"]}
OUTCOMES = ["self_service", "agent", "voicemail", "callback", "abandoned", "failed"]
STATES = ["pending", "transcribing", "transcribed", "untranscribed", "failed"]
CASES = ["received", "in_progress", "answered", "resolved"]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


PAGE = [
    _query("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 200}),
    _query("cursor", "next_cursor of the previous page"),
    _query(
        "since",
        "from this UTC date (an ISO 8601 time works too)",
        {"type": "string", "format": "date"},
    ),
    _query(
        "until",
        "up to this UTC date (an ISO 8601 time works too)",
        {"type": "string", "format": "date"},
    ),
]
COMMON = {"401": _error("no or bad token"), "400": _error("bad parameter")}

COUNTS = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}

SCHEMAS: dict[str, Any] = {
    "ErasureInput": {
        "type": "object",
        "required": ["number"],
        "properties": {
            "number": {
                "type": "string",
                "description": "the caller's number; separators are ignored, so +86 138-0013-8000 "
                "is +8613800138000",
            },
            "dry_run": {
                "type": "boolean",
                "description": "only count what would be erased (the confirmation step)",
            },
        },
    },
    "Erasure": {
        "type": "object",
        "required": ["number", "erased", "counts"],
        "properties": {
            "number": {"type": "string", "description": "masked, as 138****8000"},
            "erased": {"type": "boolean", "description": "false for a dry run"},
            "counts": {**COUNTS, "description": "rows of each kind erased (or to erase)"},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["status", "message"],
                "properties": {"status": {"type": "integer"}, "message": {"type": "string"}},
            }
        },
    },
    "Call": {
        "type": "object",
        "required": [
            "sid",
            "from",
            "to",
            "status",
            "started_at",
            "ended_at",
            "duration",
            "language",
            "menu_path",
            "outcome",
        ],
        "properties": {
            "sid": {"type": "string"},
            "from": {"type": "string"},
            "to": {"type": "string"},
            "caller_name": {"type": "string"},
            "direction": {"type": "string"},
            "status": {"type": "string"},
            "started_at": {"type": "string", "format": "date-time"},
            "ended_at": NULLABLE_STRING,
            "duration": NULLABLE_INT,
            "language": NULLABLE_STRING,
            "menu_path": {"type": "array", "items": {"type": "string"}},
            "outcome": NULLABLE_STRING,
            "rating": NULLABLE_INT,
            "wrapups": {"type": "array", "items": {"$ref": "#/components/schemas/Wrapup"}},
        },
    },
    "Wrapup": {
        "type": "object",
        "required": ["agent", "disposition", "note", "saved_at"],
        "properties": {
            "agent": {"type": "string"},
            "disposition": {"type": "string", "description": "a code from the menu's dispositions"},
            "note": {"type": "string"},
            "saved_at": {"type": "string", "format": "date-time"},
        },
    },
    "WrapupInput": {
        "type": "object",
        "required": ["agent", "disposition"],
        "properties": {
            "agent": {"type": "string", "description": "the agent who talked to the caller"},
            "disposition": {"type": "string", "description": "a code from the menu's dispositions"},
            "note": {"type": "string", "maxLength": 2000},
        },
    },
    "Event": {
        "type": "object",
        "required": ["at", "kind", "node", "detail"],
        "properties": {
            "at": {"type": "string"},
            "kind": {"type": "string"},
            "node": NULLABLE_STRING,
            "detail": {"type": "object"},
        },
    },
    "CallDetail": {
        "allOf": [
            {"$ref": "#/components/schemas/Call"},
            {
                "type": "object",
                "required": ["events"],
                "properties": {
                    "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}
                },
            },
        ]
    },
    "CallList": {
        "type": "object",
        "required": ["data", "next_cursor"],
        "properties": {
            "data": {"type": "array", "items": {"$ref": "#/components/schemas/Call"}},
            "next_cursor": NULLABLE_STRING,
        },
    },
    "Word": {
        "type": "object",
        "required": ["word", "start", "end", "conf"],
        "properties": {
            "word": {"type": "string"},
            "start": {"type": "number"},
            "end": {"type": "number"},
            "conf": {"type": "number"},
        },
    },
    "Voicemail": {
        "type": "object",
        "required": [
            "id",
            "call_sid",
            "case_number",
            "category",
            "language",
            "duration",
            "status",
            "transcript",
            "words",
            "created_at",
        ],
        "properties": {
            "id": {"type": "integer"},
            "call_sid": {"type": "string"},
            "case_number": {"type": "string"},
            "case_status": {
                "type": "string",
                "enum": ["received", "in_progress", "answered", "resolved"],
            },
            "category": {"type": "string"},
            "language": NULLABLE_STRING,
            "from": {"type": "string"},
            "duration": NULLABLE_NUMBER,
            "status": {
                "type": "string",
                "enum": ["pending", "transcribing", "transcribed", "untranscribed", "failed"],
            },
            "status_reason": NULLABLE_STRING,
            "transcript": NULLABLE_STRING,
            "words": {"type": "array", "items": {"$ref": "#/components/schemas/Word"}},
            "model": NULLABLE_STRING,
            "transcription_seconds": NULLABLE_NUMBER,
            "created_at": {"type": "string"},
            "transcribed_at": NULLABLE_STRING,
            "audio_url": NULLABLE_STRING,
        },
    },
    "VoicemailList": {
        "type": "object",
        "required": ["data", "next_cursor"],
        "properties": {
            "data": {"type": "array", "items": {"$ref": "#/components/schemas/Voicemail"}},
            "next_cursor": NULLABLE_STRING,
        },
    },
    "SearchResults": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kind", "id", "call_sid", "transcript"],
                    "properties": {
                        "kind": {"enum": ["message", "conversation"]},
                        "id": {"type": "integer"},
                        "call_sid": {"type": "string"},
                        "transcript": {"type": ["string", "null"]},
                        "turn": {"type": ["integer", "null"]},
                        "turns": {"type": "array", "items": {"type": "object"}},
                        "call_url": {"type": "string"},
                    },
                },
            }
        },
    },
    "CaseUpdate": {
        "type": "object",
        "required": ["case_status"],
        "properties": {
            "case_status": {
                "type": "string",
                "enum": ["received", "in_progress", "answered", "resolved"],
            }
        },
    },
    "Queues": {"type": "object", "required": ["data"], "properties": {"data": {"type": "array"}}},
    "Stats": {"type": "object", "required": ["from", "to", "total", "queues"]},
    "Agents": {"type": "object", "required": ["data"], "properties": {"data": {"type": "array"}}},
    "Agent": {"type": "object", "required": ["name", "presence"]},
    "Presence": {
        "type": "object",
        "required": ["presence"],
        "properties": {"presence": {"type": "string", "enum": ["available", "busy", "away"]}},
    },
    "Offer": {"type": "object", "required": ["offer"]},
    "Control": {
        "type": "object",
        "required": ["action"],
        "properties": {
            "action": {
                "type": "string",
                "enum": [
                    "hold",
                    "resume",
                    "mute",
                    "unmute",
                    "hang_up",
                    "transfer",
                    "consult",
                    "hand_over",
                    "three_way",
                    "add_number",
                    "pause_recording",
                    "resume_recording",
                ],
                "description": "pause_recording / resume_recording: silence in the conversation's "
                "recording from now (card numbers, passwords), marked on the call page; 409 "
                "when the conversation is not recorded",
            },
            "queue": {"type": "string", "description": "transfer: a queue node of the menu"},
            "agent": {"type": "string", "description": "transfer or consult: an agent's name"},
            "number": {"type": "string", "description": "add_number: +86… (international)"},
        },
    },
    "Controlled": {
        "type": "object",
        "required": ["action", "call_sid", "queue"],
        "properties": {
            "action": {"type": "string"},
            "call_sid": {"type": "string"},
            "queue": {"type": "string"},
        },
    },
}


def openapi_spec() -> dict[str, Any]:
    """The API's description (OpenAPI 3.1), each operation with the token scope it needs."""
    spec = _described()
    for operations in spec["paths"].values():
        for method, operation in operations.items():
            # OpenAPI 3.1 lets a bearer requirement list roles: here the token's scope.
            scope = operation.pop("x-scope", "read" if method == "get" else "write")
            operation["security"] = [{"bearer": [scope]}]
            operation["responses"].setdefault("403", _error("the token lacks the scope needed"))
    return spec


def _described() -> dict[str, Any]:
    voicemail_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    agent_name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "hotline API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `flask --app app tokens create NAME --scopes "
                    "read,write` or the tokens page. Scopes: read (every GET here), write (case "
                    "status, presence, take-next, wrap-ups), metrics (/metrics, outside this API), "
                    "erase (erasing a caller; never in a token unless asked for).",
                }
            },
            "schemas": SCHEMAS,
        },
        "paths": {
            "/calls": {
                "get": {
                    "summary": "Calls, newest first",
                    "parameters": [
                        *PAGE,
                        _query("number", "from or to"),
                        _query("outcome", "how it ended", {"type": "string", "enum": OUTCOMES}),
                        _query("status", "Twilio's call status"),
                        _query("language", "menu language"),
                    ],
                    "responses": {"200": _json("a page of calls", "CallList"), **COMMON},
                }
            },
            "/calls/{sid}": {
                "get": {
                    "summary": "One call with its events",
                    "parameters": [
                        {
                            "name": "sid",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _json("the call", "CallDetail"),
                        "404": _error("no such call"),
                        **COMMON,
                    },
                }
            },
            "/calls/{sid}/wrapup": {
                "post": {
                    "summary": "File an agent's wrap-up on the call (again: it replaces theirs)",
                    "parameters": [
                        {
                            "name": "sid",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/WrapupInput"}
                            }
                        },
                    },
                    "responses": {
                        "200": _json("the wrap-up as saved", "Wrapup"),
                        "404": _error("no such call or agent"),
                        "409": _error("the agent did not talk to this caller, or is disabled"),
                        **COMMON,
                    },
                }
            },
            "/voicemails": {
                "get": {
                    "summary": "Voice messages, newest first",
                    "parameters": [
                        *PAGE,
                        _query("status", "transcription state"),
                        _query("case_status", "case state"),
                        _query("category", "topic"),
                        _query("language", "language"),
                        _query("number", "caller"),
                        _query("case_number", "case"),
                    ],
                    "responses": {"200": _json("a page of messages", "VoicemailList"), **COMMON},
                }
            },
            "/voicemails/{id}": {
                "get": {
                    "summary": "One message",
                    "parameters": [voicemail_id],
                    "responses": {
                        "200": _json("the message", "Voicemail"),
                        "404": _error("no such message"),
                        **COMMON,
                    },
                },
                "patch": {
                    "summary": "Move the case on (the caller hears it by phone)",
                    "parameters": [voicemail_id],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/CaseUpdate"}
                            }
                        },
                    },
                    "responses": {
                        "200": _json("the message", "Voicemail"),
                        "404": _error("no such message"),
                        **COMMON,
                    },
                },
            },
            "/voicemails/{id}/audio": {
                "get": {
                    "summary": "The recording (HTTP Range supported)",
                    "parameters": [voicemail_id],
                    "responses": {
                        "200": {
                            "description": "audio",
                            "content": {"audio/wav": {}, "audio/mpeg": {}},
                        },
                        "206": {"description": "part of the audio"},
                        "404": _error("no such message or no audio yet"),
                        **COMMON,
                    },
                }
            },
            "/search": {
                "get": {
                    "summary": "Messages and recorded conversations holding every word of q",
                    "parameters": [
                        {**_query("q", "the words to find"), "required": True},
                    ],
                    "responses": {
                        "200": _json("matches, each with its kind", "SearchResults"),
                        **COMMON,
                    },
                }
            },
            "/queues": {
                "get": {
                    "summary": "Each queue now",
                    "responses": {"200": _json("queues", "Queues"), **COMMON},
                }
            },
            "/stats": {
                "get": {
                    "summary": "Queue figures for a period",
                    "parameters": [
                        _query("from", "first day or time (UTC)"),
                        _query("to", "last day or time (UTC)"),
                    ],
                    "responses": {"200": _json("figures", "Stats"), **COMMON},
                }
            },
            "/agents": {
                "get": {
                    "summary": "Agents and their presence",
                    "responses": {"200": _json("agents", "Agents"), **COMMON},
                }
            },
            "/agents/{name}/presence": {
                "post": {
                    "summary": "Set an agent's presence",
                    "parameters": [agent_name],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Presence"}
                            }
                        },
                    },
                    "responses": {
                        "200": _json("the agent", "Agent"),
                        "404": _error("no such agent"),
                        "409": _error("the agent is disabled"),
                        **COMMON,
                    },
                }
            },
            "/agents/{name}/take-next": {
                "post": {
                    "summary": "Connect the agent to the longest waiting caller",
                    "parameters": [agent_name],
                    "responses": {
                        "200": _json("the offer, or none", "Offer"),
                        "404": _error("no such agent"),
                        "409": _error(
                            "the agent cannot take a caller now (busy, away or disabled)"
                        ),
                        "502": _error("Twilio refused the call"),
                        **COMMON,
                    },
                }
            },
            "/callers/erase": {
                "post": {
                    "summary": "Erase everything about one caller number (PIPL, GDPR)",
                    "description": "Calls, their events, queue stays, ratings and wrap-up notes; "
                    "messages with notes, transcripts, search terms and audio; recorded "
                    "conversations likewise. Needs a token with the erase scope. The audit log "
                    "records the token, the time and the counts, never the number. Send "
                    "dry_run true first to see how much would go.",
                    "x-scope": "erase",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ErasureInput"}
                            }
                        },
                    },
                    "responses": {
                        "200": _json("what was erased (or would be)", "Erasure"),
                        "400": _error("no number, or not a phone number"),
                        "404": _error("nothing is kept about the number"),
                        "401": _error("no or bad token"),
                    },
                }
            },
            "/agents/{name}/conversation": {
                "post": {
                    "summary": "Act on the agent's live call: hold, mute, hang up, transfer, consult, add",
                    "parameters": [agent_name],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Control"}}
                        },
                    },
                    "responses": {
                        "200": _json("what was done, to which call", "Controlled"),
                        "400": _error("unknown action"),
                        "404": _error("no such agent"),
                        "409": _error(
                            "the agent is not in a conversation; no such queue or agent; "
                            "the other agent is not free"
                        ),
                        "502": _error("Twilio refused the change"),
                        **COMMON,
                    },
                }
            },
        },
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    """This API's OpenAPI description (public: it holds no data)."""
    return jsonify(openapi_spec())
