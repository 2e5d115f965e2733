"""Twilio's call queues: members in order, live positions and wait times (guarded by one lock)."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ivr.simulator.call import CallRun

DEFAULT_MAX_SIZE = 100
MAX_NAME_LENGTH = 64
# AvgQueueTime averages this many of the latest waits.
RECENT_WAITS = 20


@dataclass(eq=False)
class Member:
    """A call waiting in a queue since ``entered`` (on its own call clock)."""

    run: CallRun
    queue: Queue
    entered: float
    date_enqueued: datetime
    left: float | None = None

    @property
    def call_sid(self) -> str:
        """The waiting call's sid."""
        return self.run.result.sid

    def wait_time(self) -> int:
        """Whole seconds spent in the queue so far."""
        end = self.run.clock if self.left is None else self.left
        return int(end - self.entered)


@dataclass(eq=False)
class Queue:
    """One named queue (QueueSid ``QU`` + 32 hex), created on first use."""

    name: str
    max_size: int = DEFAULT_MAX_SIZE
    sid: str = field(default_factory=lambda: "QU" + uuid.uuid4().hex)
    members: list[Member] = field(default_factory=list)
    recent_waits: deque[int] = field(default_factory=lambda: deque(maxlen=RECENT_WAITS))
    date_created: datetime | None = None

    def position(self, member: Member) -> int:
        """1-based position of ``member``, 0 once it has left."""
        try:
            return self.members.index(member) + 1
        except ValueError:
            return 0

    def average_wait(self) -> int:
        """AvgQueueTime: the mean of the latest waits of calls that left the queue."""
        if not self.recent_waits:
            return 0
        return int(sum(self.recent_waits) / len(self.recent_waits))

    def average_current_wait(self) -> int:
        """The REST API's ``average_wait_time``: the mean wait of the calls waiting now."""
        if not self.members:
            return 0
        return int(sum(m.wait_time() for m in self.members) / len(self.members))

    def remove(self, member: Member) -> bool:
        """Take ``member`` out (remembering its wait); False if it had already left."""
        if member not in self.members:
            return False
        self.members.remove(member)
        member.left = member.run.clock
        self.recent_waits.append(member.wait_time())
        return True

    def take_head(self) -> Member | None:
        """Dequeue the member at the front, if any."""
        if not self.members:
            return None
        head = self.members[0]
        self.remove(head)
        return head

    def find(self, call_sid: str) -> Member | None:
        """The member for ``call_sid`` (``Front``: the head), or None."""
        if call_sid == "Front":
            return self.members[0] if self.members else None
        return next((m for m in self.members if m.call_sid == call_sid), None)

    def describe(self, account_sid: str) -> dict[str, object]:
        """The queue as Twilio's REST API shows it."""
        return {
            "sid": self.sid,
            "account_sid": account_sid,
            "friendly_name": self.name,
            "current_size": len(self.members),
            "average_wait_time": self.average_current_wait(),
            "max_size": self.max_size,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Queues/{self.sid}.json",
        }


class QueueBook:
    """All queues of a simulator, by name and by sid; callers hold the simulator's lock."""

    def __init__(self) -> None:
        self.by_name: dict[str, Queue] = {}

    def get(self, name: str) -> Queue | None:
        """The queue called ``name``, if it exists."""
        return self.by_name.get(name)

    def get_or_create(self, name: str, max_size: int, now: datetime) -> Queue:
        """The queue called ``name``, created with ``max_size`` on first use."""
        queue = self.by_name.get(name)
        if queue is None:
            queue = self.by_name[name] = Queue(name, max_size, date_created=now)
        return queue

    def by_sid(self, sid: str) -> Queue | None:
        """The queue with QueueSid ``sid``."""
        return next((q for q in self.by_name.values() if q.sid == sid), None)

    def member_of(self, call_sid: str) -> Member | None:
        """Where call ``call_sid`` waits, if it does."""
        for queue in self.by_name.values():
            member = queue.find(call_sid)
            if member is not None and call_sid != "Front":
                return member
        return None

    def __iter__(self) -> Iterator[Queue]:
        return iter(list(self.by_name.values()))
