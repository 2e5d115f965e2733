"""Parse TwiML documents into verbs the interpreter can run."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ivr.simulator.errors import TwimlError

# Verbs Twilio knows; the interpreter supports a subset and reports the rest as "not supported yet".
KNOWN_VERBS = frozenset(
    {
        "Say",
        "Play",
        "Pause",
        "Gather",
        "Record",
        "Redirect",
        "Hangup",
        "Reject",
        "Dial",
        "Enqueue",
        "Leave",
        "Connect",
        "Start",
        "Stop",
        "Pay",
        "Prompt",
        "Refer",
        "Sms",
        "Message",
        "Echo",
    }
)
GATHER_CHILDREN = frozenset({"Say", "Play", "Pause"})


@dataclass(frozen=True)
class Verb:
    """One TwiML verb: its name, attributes, text and nested verbs or nouns."""

    name: str
    attrs: dict[str, str] = field(default_factory=dict)
    text: str = ""
    children: tuple[Verb, ...] = ()

    def attr(self, name: str, default: str = "") -> str:
        """An attribute's value, or ``default`` when absent."""
        return self.attrs.get(name, default)


def _verb(element: ET.Element) -> Verb:
    """Convert an XML element (and its children) to a Verb."""
    return Verb(
        name=element.tag,
        attrs=dict(element.attrib),
        text="".join(element.itertext()).strip(),
        children=tuple(_verb(child) for child in element),
    )


def parse_twiml(body: str) -> list[Verb]:
    """The verbs of a TwiML document; raises TwimlError if it is not valid TwiML."""
    try:
        root = ET.fromstring(body.strip())
    except ET.ParseError as exc:
        raise TwimlError(f"not XML: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(f"root element is <{root.tag}>, not <Response>")
    verbs = [_verb(child) for child in root]
    for verb in verbs:
        if verb.name not in KNOWN_VERBS:
            raise TwimlError(f"unknown verb <{verb.name}>")
        if verb.name == "Gather":
            for child in verb.children:
                if child.name not in GATHER_CHILDREN:
                    raise TwimlError(f"<{child.name}> cannot be nested in <Gather>")
        if verb.name == "Redirect" and not verb.text:
            raise TwimlError("<Redirect> without a URL")
    return verbs
