"""<Enqueue> and <Leave>: a caller waits in a queue until bridged, redirected, gone or leaving."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from ivr.simulator.caller import Wait
from ivr.simulator.control import (
    APPLICATION_ERROR,
    Bridge,
    CallEnded,
    Complete,
    Document,
    Interrupted,
    PartyLeft,
    Reason,
    Redirect,
)
from ivr.simulator.queues import DEFAULT_MAX_SIZE, MAX_NAME_LENGTH, Member, Queue
from ivr.simulator.twiml import Verb

if TYPE_CHECKING:
    from ivr.simulator.call import CallRun

WAIT_VERBS = frozenset({"Play", "Say", "Pause", "Gather", "Redirect", "Leave", "Hangup"})
# Twilio's <Queue url> document may hold Play, Say, Pause and Redirect (TwiML docs, <Queue>).
QUEUE_URL_VERBS = frozenset({"Play", "Say", "Pause", "Redirect"})
# Twilio's default waitUrl plays its classical playlist; the simulator never fetches it.
HOLD_MUSIC = "https://twimlets.com/holdmusic?Bucket=com.twilio.music.classical"


class LeftQueue(Exception):
    """Internal: the member ran <Leave/>."""


def run_restricted(
    run: CallRun, document: Document | None, allowed: frozenset[str], where: str
) -> None:
    """Run TwiML that may only use ``allowed`` verbs; another verb ends the document."""
    while document is not None:
        following: Document | None = None
        for verb in document.verbs:
            if verb.name not in allowed:
                message = f"<{verb.name}> is not allowed in {where} TwiML (document ended)"
                run.result.errors.append(message)
                run.line("twilio", "error", message)
                break
            following = run.perform(verb, document)
            if following is not None:
                break
        document = following


def queue_fields(member: Member) -> dict[str, str]:
    """What Twilio tells the waitUrl about the member's place (read under the lock)."""
    queue = member.queue
    return {
        "QueuePosition": str(queue.position(member)),
        "QueueSid": queue.sid,
        "QueueTime": str(member.wait_time()),
        "AvgQueueTime": str(queue.average_wait()),
        "CurrentQueueSize": str(len(queue.members)),
        "MaxQueueSize": str(queue.max_size),
    }


def hold(run: CallRun, member: Member, wait_url: str | None) -> NoReturn:
    """Loop on the waitUrl until something takes the member out of the queue."""
    while True:
        if wait_url is None:
            run.line("twilio", "play", HOLD_MUSIC)
            run.clock += run.sim.play_seconds
            continue
        with run.sim.lock:
            fields = queue_fields(member)
        run.line(
            "twilio",
            "queue",
            f"position {fields['QueuePosition']} of {fields['CurrentQueueSize']}, "
            f"{fields['QueueTime']}s waited",
        )
        run_restricted(run, run.fetch(wait_url, fields), WAIT_VERBS, "waitUrl")


def claim_exit(run: CallRun, member: Member) -> Reason | None:
    """Leave the queue on the caller's own account; if someone dequeued it first, their reason."""
    with run.sim.lock:
        run.member = None
        run.deadline = run.deadline_reason = None
        if member.queue.remove(member):
            return None
        # An agent or the REST API took the member a moment ago: that wins.
        for reason in list(run.interrupts):
            if isinstance(reason, Bridge) or (isinstance(reason, Redirect) and reason.dequeued):
                run.interrupts.remove(reason)
                return reason
        return None


def finish_queue(
    run: CallRun,
    queue: Queue,
    action_url: str | None,
    result: str,
    queue_time: int,
    *,
    gone: bool = False,
) -> Document | None:
    """Report the QueueResult to the Enqueue action; its TwiML goes on (unless the caller is gone)."""
    run.result.queue_result = result
    run.result.queue_time = queue_time
    fields = {"QueueResult": result, "QueueSid": queue.sid, "QueueTime": str(queue_time)}
    if action_url is None:
        if gone:
            raise CallEnded
        return None
    if gone:
        run.notify(action_url, run.params("completed") | fields)
        raise CallEnded
    return run.fetch(action_url, fields)


def enqueue(run: CallRun, verb: Verb, document: Document) -> Document | None:
    """<Enqueue>: wait in a named queue (created on first use), playing the waitUrl TwiML."""
    name = verb.text
    if not name or len(name) > MAX_NAME_LENGTH:
        run.fail(
            f"<Enqueue> queue name must be 1-{MAX_NAME_LENGTH} characters: {name!r}",
            APPLICATION_ERROR,
        )
    if verb.attr("workflowSid"):
        run.unsupported(verb, " with workflowSid (TaskRouter)")
    max_size = int(run.number(verb, "maxQueueSize", DEFAULT_MAX_SIZE, low=1))
    action_url = run.target(verb, "action", document) if verb.attr("action") else None
    wait_url = run.target(verb, "waitUrl", document) if verb.attr("waitUrl") else None
    with run.sim.lock:
        queue = run.sim.queues.get_or_create(name, max_size, run.now())
        full = len(queue.members) >= queue.max_size
        member = Member(run, queue, run.clock, run.now())
        if not full:
            queue.members.append(member)
            run.member = member
            position = queue.position(member)
    if full:
        run.line("twilio", "queue-full", f"{name} has {queue.max_size} waiting")
        return finish_queue(run, queue, action_url, "queue-full", 0)
    run.result.queue_result = None
    run.line("twilio", "enqueue", f"{name} at position {position}")
    run.set_deadline(
        run.sim.queue_wait_limit,
        Complete(
            f"still waiting after {run.sim.queue_wait_limit:g}s",
            error=f"caller still in queue {name!r} after the {run.sim.queue_wait_limit:g}s safety limit",
        ),
    )
    if run.script and isinstance(run.script[0], Wait):
        run.wait_at_most(run.script.pop(0))
    try:
        hold(run, member, wait_url)
    except Interrupted as stop:
        reason = stop.reason
        taken_by_other = isinstance(reason, Bridge) or (
            isinstance(reason, Redirect) and reason.dequeued
        )
        if not taken_by_other:
            reason = claim_exit(run, member) or reason
        return dequeued(run, member, reason, action_url)
    except LeftQueue:
        taken = claim_exit(run, member)
        if taken is not None:
            return dequeued(run, member, taken, action_url)
        run.line("twilio", "leave", f"{name} after {member.wait_time()}s")
        return finish_queue(run, queue, action_url, "leave", member.wait_time())
    except CallEnded:
        taken = claim_exit(run, member)
        if isinstance(taken, Bridge):
            caller_gone(taken)
        finish_queue(run, queue, action_url, "hangup", member.wait_time(), gone=True)
        raise
    finally:
        with run.sim.lock:
            queue.remove(member)
            run.member = None
            run.deadline = run.deadline_reason = None


def caller_gone(bridge: Bridge) -> None:
    """Tell an agent that the member it took is no longer there (mid-talk: end the bridge)."""
    with bridge.agent.sim.lock:
        talking = bridge.connected.is_set() and not bridge.ended.is_set()
        bridge.caller_gone = True
        bridge.connected.set()
        bridge.ended.set()
    if talking:
        bridge.agent.interrupt(PartyLeft())
    bridge.agent.wake()


def dequeued(
    run: CallRun, member: Member, reason: Reason, action_url: str | None
) -> Document | None:
    """The member is out of the queue because of ``reason``: bridge, redirect or hang up."""
    queue = member.queue
    waited = member.wait_time()
    if isinstance(reason, Bridge):
        return bridged(run, member, reason, action_url)
    if isinstance(reason, Redirect):
        # A Members or Calls update: Twilio requests the action at once (QueueResult=redirected)
        # and ignores its answer; the call then runs the update's Url or Twiml.
        run.line("twilio", "dequeue", f"{queue.name} after {waited}s (REST API)")
        run.result.queue_result, run.result.queue_time = "redirected", waited
        if action_url is not None:
            fields = {"QueueResult": "redirected", "QueueSid": queue.sid, "QueueTime": str(waited)}
            run.notify(action_url, run.params() | fields)
        return run.redirected(reason)
    if isinstance(reason, Complete):
        if reason.error:
            run.result.errors.append(reason.error)
            run.line("twilio", "error", reason.error)
        else:
            run.line("caller", "hangup", f"{reason.why} in queue {queue.name}")
        return finish_queue(run, queue, action_url, "hangup", waited, gone=True)
    raise Interrupted(reason)


def bridged(
    run: CallRun, member: Member, bridge: Bridge, action_url: str | None
) -> Document | None:
    """An agent dequeued the member: play the Queue url TwiML, talk, then go to the action."""
    queue = member.queue
    waited = member.wait_time()
    bridge.member, bridge.queue_time = run, waited
    agent = bridge.agent.party
    run.line("twilio", "dequeue", f"{queue.name} by {agent} after {waited}s")
    try:
        if bridge.url:
            fields = {
                "QueueSid": queue.sid,
                "QueueTime": str(waited),
                "DequeingCallSid": bridge.agent.result.sid,
            }
            run_restricted(run, run.fetch(bridge.url, fields), QUEUE_URL_VERBS, "<Queue url>")
        run.line("twilio", "bridged", f"with {agent} after {waited}s in {queue.name}")
        run.result.bridged_to = agent
        bridge.connected.set()
        bridge.agent.wake()
        run.wait_for(bridge.ended.is_set, f"the bridge with {agent} to end")
    except (Interrupted, CallEnded):
        caller_gone(bridge)
        raise
    run.catch_up(bridge.duration)
    run.line("twilio", "bridge-ended", f"{agent} hung up after {bridge.duration}s")
    return finish_queue(run, queue, action_url, "bridged", waited)


def leave(run: CallRun, verb: Verb, document: Document) -> Document | None:
    """<Leave/>: out of the queue, on to the Enqueue action (outside a queue: nothing)."""
    if run.member is None:
        run.result.warnings.append("<Leave> outside a queue: ignored")
        return None
    raise LeftQueue
