"""What the caller hears next: walks the menu for one webhook and returns TwiML plus events.

Everything here decides; nothing touches the request or the database. Lookups and links come in
through ``Context`` so tests can run the flow without a server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from twilio.twiml.voice_response import VoiceResponse

from ivr.callflow.menu import Menu, Node, Voice
from ivr.models import Outcome
from ivr.twilio.twiml import add_prompt, gather_keys, speak, spell_digits

# ASCII digits only: \d also matches full-width and other scripts' digits, which no keypad sends.
NUMBER = re.compile(r"[0-9]{3,32}")
MAX_CHAIN = 12


class LookupFailed(Exception):
    """A lookup could not answer (timeout, error): the caller is told, not left hanging."""


@dataclass(frozen=True)
class StatusInfo:
    """What a lookup found: an order's or case's status and a few optional details."""

    number: str
    status: str
    carrier: str = ""
    eta: str = ""


Lookup = Callable[[str], StatusInfo | None]


class Links(Protocol):
    """Builds the URLs that Twilio will request next."""

    def node(self, node_id: str, *, lang: str | None, step: int, after_error: bool = False) -> str:
        """URL that enters ``node_id`` (``after_error``: a second failure there ends the call)."""
        ...

    def input(self, node_id: str, *, lang: str | None, step: int, attempt: int) -> str:
        """URL that receives the caller's keys at ``node_id``."""
        ...


# A node type the flow cannot play itself (voicemail, queue) is handed to a plug-in, which
# adds its TwiML and returns the outcome; the app wires them in, so ivr never imports voicemail.
NodeHandler = Callable[["Flow", Node, str], None]


@dataclass(frozen=True)
class Event:
    """Something worth a line in the call's history."""

    kind: str
    node: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """What one webhook's flow may use."""

    menu: Menu
    links: Links
    step: int
    caller: str
    now: datetime
    find_order: Lookup
    find_case: Lookup
    handlers: dict[str, NodeHandler] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)  # nodes visited in earlier webhooks


@dataclass
class Turn:
    """The flow's answer to one webhook: TwiML and what to write in the call log."""

    response: VoiceResponse
    events: list[Event]
    visited: list[str]
    language: str | None
    outcome: Outcome | None


class Flow:
    """Builds one Turn: enter a node, or answer the caller's keys at a node."""

    def __init__(self, ctx: Context, lang: str | None) -> None:
        self.ctx = ctx
        self.menu = ctx.menu
        self.lang = lang if lang in ctx.menu.languages else None
        self.response = VoiceResponse()
        self.events: list[Event] = []
        self.visited: list[str] = []
        self.language_chosen: str | None = None
        self.outcome: Outcome | None = None
        self._chain = 0

    # -- results ---------------------------------------------------------------------------

    def turn(self) -> Turn:
        """The TwiML and log entries built so far."""
        return Turn(self.response, self.events, self.visited, self.language_chosen, self.outcome)

    def log(self, kind: str, node: str | None = None, **detail: Any) -> None:
        """Add an event to the call's history."""
        self.events.append(Event(kind, node, detail))

    @property
    def voice(self) -> Voice:
        """The voice of the caller's language (the menu's first language until one is chosen)."""
        return self.menu.languages[self.lang or next(iter(self.menu.languages))]

    def say(self, phrase: str, **values: str) -> None:
        """Speak one of the menu's phrases in the caller's language."""
        speak(self.response, self.menu.phrase(phrase, self.voice.code, **values), self.voice)

    def next_step(self) -> int:
        """The step number carried by the URLs this turn hands to Twilio."""
        return self.ctx.step + 1

    def topic(self) -> str | None:
        """The last queue (topic) the caller chose in this call, e.g. after_sales."""
        for node_id in reversed([*self.ctx.history, *self.visited]):
            node = self.menu.nodes.get(node_id)
            if node is not None and node.type == "queue":
                return str(node.settings["queue"])
        return None

    def input_url(self, node: Node, attempt: int) -> str:
        """Where the caller's keys at ``node`` go."""
        return self.ctx.links.input(node.id, lang=self.lang, step=self.next_step(), attempt=attempt)

    # -- entering nodes --------------------------------------------------------------------

    def enter(self, node_id: str, attempt: int = 0) -> Turn:
        """Play a node: its prompt and what it waits for."""
        self._chain += 1
        if self._chain > MAX_CHAIN:
            raise RuntimeError(f"menu passes the caller on more than {MAX_CHAIN} times at once")
        node = self.menu.nodes[node_id]
        if not self.menu.is_open(node, self.ctx.now):
            self.log("closed_hours", node.id, hours=node.hours)
            self.say("closed")
            assert node.closed is not None  # checked when the menu was loaded
            return self.enter(node.closed)
        if attempt == 0:
            self.visited.append(node.id)
            self.log("node", node.id, type=node.type)
        getattr(self, f"_enter_{node.type}")(node, attempt)
        return self.turn()

    def _enter_language(self, node: Node, attempt: int) -> None:
        order = sorted(node.options.values(), key=lambda code: code != self._preferred(node))
        prompts = [(node.prompt[code], self.menu.languages[code]) for code in dict.fromkeys(order)]
        gather_keys(
            self.response,
            prompts,
            action=self.input_url(node, attempt),
            timeout=self.menu.gather_timeout,
        )

    def _enter_menu(self, node: Node, attempt: int) -> None:
        gather_keys(
            self.response,
            [(node.prompt[self.voice.code], self.voice)],
            action=self.input_url(node, attempt),
            timeout=self.menu.gather_timeout,
        )

    def _enter_order_status(self, node: Node, attempt: int) -> None:
        gather_keys(
            self.response,
            [(node.prompt[self.voice.code], self.voice)],
            action=self.input_url(node, attempt),
            timeout=self.menu.digits_timeout,
            num_digits=None,
        )

    _enter_case_status = _enter_order_status

    def _enter_message(self, node: Node, attempt: int) -> None:
        add_prompt(self.response, node.prompt[self.voice.code], self.voice)
        self.outcome = self.outcome or Outcome.SELF_SERVICE
        if node.next:
            self.enter(node.next)
        else:
            self.say("goodbye")
            self.response.hangup()

    def _enter_queue(self, node: Node, attempt: int) -> None:
        handler = self.ctx.handlers.get("queue")
        if handler is not None:
            handler(self, node, self.voice.code)
            return
        # Until agents can take calls, a queue says so and moves on to its fallback.
        add_prompt(self.response, node.prompt[self.voice.code], self.voice)
        self.log("queue_unavailable", node.id, queue=node.settings["queue"])
        self.say("agents_busy")
        assert node.fallback is not None
        self.enter(node.fallback)

    def _enter_voicemail(self, node: Node, attempt: int) -> None:
        handler = self.ctx.handlers.get("voicemail")
        if handler is not None:
            handler(self, node, self.voice.code)
            return
        self.log("voicemail_unavailable", node.id)
        self.say("voicemail_unavailable")
        self.say("goodbye")
        self.response.hangup()

    # -- answering keys --------------------------------------------------------------------

    def respond(self, node_id: str, digits: str | None, attempt: int) -> Turn:
        """Act on the keys the caller pressed at a node (``None``: nothing pressed)."""
        node = self.menu.nodes[node_id]
        keys = (digits or "").strip()
        if keys:
            self.log("keys", node.id, digits=keys[:64])
        else:
            self.log("no_input", node.id, attempt=attempt + 1)
        if keys == "*" and node.type != "language":
            self.log("repeat", node.id)
            return self._repeat(node)
        respond = getattr(self, f"_respond_{node.type}", None)
        if respond is None:
            # Keys for a node that asks for none: a call in progress when the menu changed.
            return self._repeat(node)
        respond(node, keys, attempt)
        return self.turn()

    def _repeat(self, node: Node) -> Turn:
        getattr(self, f"_enter_{node.type}")(node, 0)
        return self.turn()

    def _respond_language(self, node: Node, keys: str, attempt: int) -> None:
        code = node.options.get(keys)
        if code is None and keys and attempt + 1 < self.menu.attempts(node):
            self.log("invalid_input", node.id, digits=keys[:64])
            for language in dict.fromkeys([self._preferred(node), *node.options.values()]):
                voice = self.menu.languages[language]
                speak(self.response, self.menu.phrase("invalid", language), voice)
            self._enter_language(node, attempt + 1)
            return
        chosen = code or self._preferred(node)
        self.lang = self.language_chosen = chosen
        self.log("language", node.id, language=chosen, chosen_by="key" if code else "default")
        assert node.next is not None
        self.enter(node.next)

    def _respond_menu(self, node: Node, keys: str, attempt: int) -> None:
        target = node.options.get(keys)
        if target is not None:
            self.enter(target)
        else:
            self._try_again(node, keys, attempt)

    def _respond_order_status(self, node: Node, keys: str, attempt: int) -> None:
        self._lookup(node, keys, attempt, self.ctx.find_order, "order")

    def _respond_case_status(self, node: Node, keys: str, attempt: int) -> None:
        self._lookup(node, keys, attempt, self.ctx.find_case, "case")

    def _lookup(self, node: Node, keys: str, attempt: int, find: Lookup, what: str) -> None:
        number = keys.rstrip("#")
        if not NUMBER.fullmatch(number):
            self._try_again(node, keys, attempt)
            return
        try:
            found = find(number)
        except LookupFailed as exc:
            self.log(f"{what}_lookup", node.id, number=number, result="failed", reason=str(exc))
            self.say("lookup_failed")
            assert node.fallback is not None
            self.enter(node.fallback)
            return
        if found is None:
            self.log(f"{what}_lookup", node.id, number=number, result="not_found")
            self.say(f"{what}_not_found", number=spell_digits(number))
            self._try_again(node, None, attempt, already_said=True)
            return
        self.log(f"{what}_lookup", node.id, number=number, result="found", status=found.status)
        self._read_status(what, found)
        self.outcome = self.outcome or Outcome.SELF_SERVICE
        assert node.next is not None
        self.enter(node.next)

    def _read_status(self, what: str, found: StatusInfo) -> None:
        names = self.menu.order_statuses if what == "order" else self.menu.case_statuses
        status = names.get(found.status, {}).get(self.voice.code, found.status.replace("_", " "))
        self.say(f"{what}_status", number=spell_digits(found.number), status=status)
        if found.eta and "order_eta" in self.menu.phrases:
            self.say("order_eta", eta=found.eta)
        if found.carrier and "order_carrier" in self.menu.phrases:
            self.say("order_carrier", carrier=found.carrier)

    def _try_again(
        self, node: Node, keys: str | None, attempt: int, *, already_said: bool = False
    ) -> None:
        """Re-prompt after a wrong or missing answer, or give up and go somewhere useful."""
        if keys:
            self.log("invalid_input", node.id, digits=keys[:64])
        if not already_said:
            self.say("invalid" if keys else "no_input")
        if attempt + 1 >= self.menu.attempts(node):
            self.log("gave_up", node.id, attempts=attempt + 1, to=node.fallback)
            self.say("giving_up")
            assert node.fallback is not None
            self.enter(node.fallback)
            return
        getattr(self, f"_enter_{node.type}")(node, attempt + 1)

    # -- small decisions -------------------------------------------------------------------

    def _preferred(self, node: Node) -> str:
        """The language a caller gets first and on silence: foreign numbers may get another."""
        default = str(node.settings.get("default") or next(iter(node.options.values())))
        foreign = node.settings.get("foreign_default")
        home = tuple(node.settings.get("home_prefixes") or ())
        number = self.ctx.caller
        if foreign and home and number.startswith("+") and not number.startswith(home):
            return str(foreign)
        return default


def error_turn(menu: Menu, lang: str | None, links: Links, step: int, retry: bool) -> VoiceResponse:
    """Apologise in the caller's language and offer to take a message (or say goodbye)."""
    response = VoiceResponse()
    code = lang if lang in menu.languages else next(iter(menu.languages))
    voice = menu.languages[code]
    speak(response, menu.phrase("error", code), voice)
    messages = [n for n in menu.nodes.values() if n.type == "voicemail"]
    general = [n for n in messages if n.settings.get("category", "general") == "general"]
    message = (general or messages or [None])[0]
    if retry and message is not None:
        response.redirect(
            links.node(message.id, lang=code, step=step + 1, after_error=True), method="POST"
        )
    else:
        speak(response, menu.phrase("goodbye", code), voice)
        response.hangup()
    return response
