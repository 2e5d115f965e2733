"""The time zones an agent chooses from on /me: the common ones first, then by region, each
named by its place and its offset now, and narrowed by what the agent searches for."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from ivr.clock import REGIONS, time_zones

COMMON = {
    "Asia/Shanghai": _l("Shanghai (Beijing time)"),
    "Asia/Hong_Kong": _l("Hong Kong"),
    "Asia/Taipei": _l("Taipei"),
    "Asia/Singapore": _l("Singapore"),
    "Asia/Tokyo": _l("Tokyo"),
    "Asia/Seoul": _l("Seoul"),
    "Europe/London": _l("London"),
    "Europe/Berlin": _l("Berlin"),
    "Europe/Paris": _l("Paris"),
    "America/New_York": _l("New York"),
    "America/Los_Angeles": _l("Los Angeles"),
    "Australia/Sydney": _l("Sydney"),
    "UTC": _l("Coordinated Universal Time"),
}
REGION_NAMES = {
    "Asia": _l("Asia"), "Europe": _l("Europe"), "America": _l("Americas"),
    "Australia": _l("Australia"), "Pacific": _l("Pacific"), "Africa": _l("Africa"),
    "Indian": _l("Indian Ocean"), "Atlantic": _l("Atlantic"), "Antarctica": _l("Antarctica"),
    "Arctic": _l("Arctic"),
}  # fmt: skip


def offset_words(zone: str, now: datetime) -> str:
    """How far the zone is from UTC at ``now``: "UTC+08:00", "UTC-03:30"."""
    offset = now.astimezone(ZoneInfo(zone)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def zone_label(zone: str, now: datetime) -> str:
    """A zone as people read it: its place (translated for the common ones), IANA name, offset."""
    place = COMMON.get(zone) or zone.partition("/")[2].replace("_", " ").replace("/", " / ")
    return f"{place} · {zone} · {offset_words(zone, now)}"


def zone_choices(now: datetime, find: str = "", keep: str = "") -> dict[str, list[tuple[str, str]]]:
    """{group name: [(zone, label)]} for the select (WTForms draws each group as an optgroup): common zones, then each region's by place.

    ``find`` keeps only zones whose name or label holds it (the search without scripts);
    ``keep`` stays in the list whatever is searched, so the agent's own zone is never lost.
    """
    words = find.strip().casefold()
    groups: dict[str, list[tuple[str, str]]] = {"": []}
    for region in REGIONS:
        groups[region] = []
    for zone in time_zones():
        label = zone_label(zone, now)
        if words and words not in label.casefold() and zone != keep:
            continue
        groups["" if zone in COMMON else zone.partition("/")[0]].append((zone, label))
    common = sorted(groups.pop(""), key=lambda choice: list(COMMON).index(choice[0]))
    named = [(str(_l("Common")), common)] + [
        (str(REGION_NAMES[region]), sorted(groups[region], key=lambda c: c[1]))
        for region in REGIONS
    ]
    return {name: choices for name, choices in named if choices}
