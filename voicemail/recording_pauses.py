"""Where a conversation's recording was paused: stretches in seconds from its start, as the
call page marks them."""

from __future__ import annotations

from ivr.clock import utcnow
from voicemail.models import ConversationRecording


def seconds_in(row: ConversationRecording) -> float:
    """Seconds since the recording started (where a pause begins or ends in it)."""
    return max(0.0, (utcnow() - row.started_at).total_seconds())


def close_pause(row: ConversationRecording, end: float) -> None:
    """Mark the pause that goes on as ended ``end`` seconds into the recording."""
    if row.paused_at is not None:
        start = max(0.0, (row.paused_at - row.started_at).total_seconds())
        row.pauses = [*(row.pauses or []), [round(start, 2), round(max(start, end), 2)]]
        row.paused_at = None
