"""Reading TwiML in tests: parse the XML, never match substrings."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass


@dataclass
class Doc:
    """A parsed TwiML response."""

    root: ET.Element

    @classmethod
    def parse(cls, body: bytes | str) -> Doc:
        root = ET.fromstring(body)
        assert root.tag == "Response"
        return cls(root)

    def verbs(self) -> list[str]:
        """Top-level verb names in order."""
        return [child.tag for child in self.root]

    def said(self) -> list[tuple[str, str]]:
        """(language, text) of every Say, nested ones included, in document order."""
        return [(el.get("language", ""), el.text or "") for el in self.root.iter("Say")]

    def languages(self) -> set[str]:
        """The languages spoken."""
        return {language for language, _ in self.said()}

    def gather(self) -> ET.Element:
        """The one Gather."""
        found = self.root.findall("Gather")
        assert len(found) == 1, self.verbs()
        return found[0]

    def redirect(self) -> str:
        """The URL of the final Redirect."""
        last = self.root[-1]
        assert last.tag == "Redirect", self.verbs()
        return last.text or ""
