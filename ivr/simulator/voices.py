"""Which language each text-to-speech voice speaks, to catch voice/language mismatches."""

from __future__ import annotations

import re

# Amazon Polly voices Twilio offers, by the language codes Twilio lists for them (a subset).
POLLY_LANGUAGES: dict[str, frozenset[str]] = {
    name: frozenset(languages)
    for languages, names in (
        (("cmn-CN",), "Zhiyu"),
        (("yue-CN",), "Hiujin"),
        (
            ("en-US",),
            "Danielle Gregory Ivy Joanna Joey Justin Kendra Kevin Kimberly Matthew Ruth Salli "
            "Stephen",
        ),
        (("en-GB",), "Amy Arthur Brian Emma"),
        (("en-AU",), "Nicole Olivia Russell"),
        (("en-IN", "hi-IN"), "Aditi Kajal"),
        (("en-IN",), "Raveena"),
        (("ja-JP",), "Kazuha Mizuki Takumi Tomoko"),
        (("ko-KR",), "Seoyeon"),
        (("fr-FR",), "Celine Lea Mathieu Remi"),
        (("de-DE",), "Daniel Hans Marlene Vicki"),
        (("es-ES",), "Conchita Enrique Lucia Sergio"),
        (("es-US",), "Lupe Miguel Pedro Penelope"),
    )
    for name in names.split()
}
POLLY = re.compile(r"^Polly\.(?P<name>[A-Za-z]+)(?:-(?:Neural|Generative|Standard))?$")
GOOGLE = re.compile(r"^Google\.(?P<language>[a-z]{2,3}-[A-Z]{2})-")


def voice_languages(voice: str) -> frozenset[str] | None:
    """The languages ``voice`` speaks, or None when the simulator does not know the voice."""
    polly = POLLY.match(voice)
    if polly:
        return POLLY_LANGUAGES.get(polly["name"])
    google = GOOGLE.match(voice)
    if google:
        return frozenset({google["language"]})
    return None


def say_language(voice: str | None, language: str | None) -> tuple[str, str | None]:
    """The language a <Say> is spoken in, and why Twilio would refuse it (or None)."""
    known = voice_languages(voice) if voice else None
    if known is None:
        return language or "en-US", None
    if language is None:
        return sorted(known)[0], None
    if language.lower() not in {known_language.lower() for known_language in known}:
        spoken = ", ".join(sorted(known))
        return language, f'voice "{voice}" speaks {spoken}, not language "{language}"'
    return language, None
