"""The supervisors' charts: a period's calls, waits and service level by hour, and each agent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask_babel import gettext as _

from ivr.queues.per_hour import Hour
from ivr.web.charts import BarsAcross, Chart, Series, bars_across, column_chart

HOURS = [str(hour) for hour in range(24)]


def clock(hour: int) -> str:
    """An hour of the day as the tooltips write it: 09."""
    return f"{hour:02d}"


def calls_chart(answered: Sequence[int], abandoned: Sequence[int], other: Sequence[int]) -> Chart:
    """Calls per hour, stacked: answered by agents, the caller hung up (in the menu or the
    queue), ended otherwise."""
    totals = [a + b + c for a, b, c in zip(answered, abandoned, other, strict=True)]

    def titles(translated: str, values: Sequence[int]) -> list[str]:
        return [translated % {"hour": clock(h), "n": n} for h, n in enumerate(values)]

    return column_chart(
        HOURS,
        [
            Series(
                _("Answered by agents"),
                answered,
                titles=titles(_("%(hour)s:00 · %(n)s answered by agents"), answered),
            ),
            Series(
                _("Hung up"),
                abandoned,
                titles=titles(_("%(hour)s:00 · %(n)s hung up"), abandoned),
            ),
            Series(
                _("Menu, messages and call-backs"),
                other,
                titles=titles(
                    _("%(hour)s:00 · %(n)s ended in the menu, a message or a call-back"), other
                ),
            ),
        ],
        stacked=True,
        titles=[_("%(hour)s:00 · %(n)s calls", hour=clock(h), n=n) for h, n in enumerate(totals)],
        totals=[str(n) if n else "" for n in totals],
    )


def waits_chart(hours: Sequence[Hour]) -> Chart:
    """The answered callers' average wait and anyone's longest wait, per hour, in seconds."""
    average = [h.average_wait for h in hours]
    longest = [h.longest if h.offered else None for h in hours]
    return column_chart(
        HOURS,
        [
            Series(
                _("Average wait (answered)"),
                average,
                shown=[f"{v:.0f}" if v is not None else "" for v in average],
                titles=[
                    _("%(hour)s:00 · average wait %(n)s s", hour=clock(h), n=f"{v:.0f}")
                    if v is not None
                    else ""
                    for h, v in enumerate(average)
                ],
            ),
            Series(
                _("Longest wait"),
                longest,
                shown=[str(v) if v is not None else "" for v in longest],
                titles=[
                    _("%(hour)s:00 · longest wait %(n)s s", hour=clock(h), n=v)
                    if v is not None
                    else ""
                    for h, v in enumerate(longest)
                ],
            ),
        ],
        unit="s",
    )


def service_chart(hours: Sequence[Hour], target: float, goal: float) -> Chart:
    """The share of callers answered within ``target`` seconds, per hour, with the ``goal`` line."""
    shares = [h.service_level * 100 if h.service_level is not None else None for h in hours]
    return column_chart(
        HOURS,
        [
            Series(
                _("Answered within %(n)s s", n=f"{target:g}"),
                shares,
                shown=[f"{v:.0f}%" if v is not None else "" for v in shares],
                titles=[
                    _(
                        "%(hour)s:00 · %(share)s answered within %(n)s s (%(within)s of "
                        "%(offered)s)",
                        hour=clock(i),
                        share=f"{v:.0f}%",
                        n=f"{target:g}",
                        within=h.within,
                        offered=h.offered,
                    )
                    if v is not None
                    else ""
                    for i, (h, v) in enumerate(zip(hours, shares, strict=True))
                ],
            ),
        ],
        unit="%",
        top=100,
        line=goal,
    )


def minutes(seconds: float | None) -> str:
    """Seconds as minutes:seconds, as the agents' table writes them."""
    if seconds is None:
        return "–"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def agent_charts(agents: Sequence[Mapping[str, Any]]) -> dict[str, BarsAcross]:
    """Bars across per agent: calls answered, talk time and average rating."""
    names = [str(a["agent"]) for a in agents]
    answered = [a["answered"] for a in agents]
    talk = [a["talk"] or 0 for a in agents]
    rating = [a["average_rating"] for a in agents]
    return {
        "answered": bars_across(
            names, answered, shown=[str(n) for n in answered],
            titles=[_("%(agent)s · %(n)s calls answered", agent=a, n=n)
                    for a, n in zip(names, answered, strict=True)],
        ),
        "talk": bars_across(
            names, [t / 60 for t in talk], shown=[minutes(t) for t in talk],
            titles=[_("%(agent)s · talked %(time)s", agent=a, time=minutes(t))
                    for a, t in zip(names, talk, strict=True)],
        ),
        "rating": bars_across(
            names, rating, top=5, shown=[f"{r:g}" if r is not None else "–" for r in rating],
            titles=[_("%(agent)s · average rating %(n)s", agent=a, n=f"{r:g}" if r is not None
                      else "–") for a, r in zip(names, rating, strict=True)],
        ),
    }  # fmt: skip
