"""Charts as geometry: series of numbers turned into bars, ticks and labels for an inline SVG.

Across, positions are percentages of the plot's width and the SVG is as wide as its box; down,
they are pixels. Text so keeps its size on a phone and on a wall screen, where a viewBox scaled
to the width would shrink it to 6 px at 390 px or blow it up to 30 px at 1 440 px.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

# Room above the bars for their values, and below them for the labels of the x axis.
HEAD, FOOT = 18, 22
# The share of a slot a column's bars take: the rest is the gap between slots.
FILL = 0.78


@dataclass(frozen=True)
class Series:
    """One set of values, one per slot, with what the legend calls it.

    ``shown`` are the values as written on the bars, ``titles`` the tooltips (both translated by
    the caller); either may be empty.
    """

    name: str
    values: Sequence[float | None]
    shown: Sequence[str] = ()
    titles: Sequence[str] = ()


@dataclass(frozen=True)
class Tick:
    """A value on an axis and where it is drawn: pixels down a column chart, percent across a
    bar chart."""

    value: float
    at: float
    label: str


@dataclass(frozen=True)
class Bar:
    """A bar: ``x`` and ``width`` in percent of the plot, ``y`` and ``height`` in pixels."""

    series: int
    x: float
    width: float
    y: float
    height: float
    title: str


@dataclass(frozen=True)
class Label:
    """A piece of text at ``x`` percent across and ``y`` pixels down."""

    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    """Everything a column chart draws."""

    height: int
    base: float
    ticks: list[Tick]
    bars: list[Bar]
    values: list[Label]
    slots: list[Label]
    legend: list[str]
    line: Tick | None = None
    titles: list[str] = field(default_factory=list)


def nice_ticks(largest: float, most: int = 5) -> list[float]:
    """Round values from 0 up to at least ``largest``: steps of 1, 2 or 5 times a power of ten."""
    if largest <= 0 or not math.isfinite(largest):
        return [0.0, 1.0]
    rough = largest / most
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    if step < 1 and largest >= 1:
        step = 1.0  # counts and seconds: no half a call on the axis
    count = math.ceil(largest / step - 1e-9)
    return [round(i * step, 10) for i in range(count + 1)]


def tick_label(value: float, unit: str = "") -> str:
    """A tick's value as written beside the axis."""
    text = f"{value:g}"
    return f"{text}{unit}"


def column_chart(
    slots: Sequence[str],
    series: Sequence[Series],
    *,
    stacked: bool = False,
    height: int = 220,
    unit: str = "",
    every: int = 1,
    top: float | None = None,
    line: float | None = None,
    titles: Sequence[str] = (),
    totals: Sequence[str] = (),
) -> Chart:
    """Columns, one per slot, of every series side by side, or stacked with their sum on top.

    ``every``: label one slot in so many on the x axis. ``top``: the axis goes at least this high
    (100 for shares). ``line``: a value marked across the plot (a target). ``titles``: tooltips
    of whole slots. ``totals``: written on top of stacked columns.
    """
    n = len(slots)
    values = [[v or 0.0 for v in s.values] for s in series]
    if stacked:
        largest = max((sum(col) for col in zip(*values, strict=True)), default=0.0)
    else:
        largest = max((v for s in values for v in s), default=0.0)
    ticks = nice_ticks(max(largest, top or 0.0, line or 0.0))
    base = height - FOOT
    plot = base - HEAD

    def down(value: float) -> float:
        return round(base - value / ticks[-1] * plot, 1)

    slot = 100 / n if n else 100.0
    bars: list[Bar] = []
    shown: list[Label] = []
    for i in range(n):
        left = i * slot + slot * (1 - FILL) / 2
        if stacked:
            total = 0.0
            for k, s in enumerate(series):
                value = values[k][i]
                if value:
                    bars.append(Bar(k, round(left, 3), round(slot * FILL, 3), down(total + value),
                                    round(value / ticks[-1] * plot, 1), _at(s.titles, i)))  # fmt: skip
                total += value
            shown.append(Label(round(i * slot + slot / 2, 3), down(total) - 4, _at(totals, i)))
            continue
        width = slot * FILL / max(len(series), 1)
        for k, s in enumerate(series):
            value = values[k][i]
            x = left + k * width
            bars.append(Bar(k, round(x, 3), round(width, 3), down(value),
                            round(value / ticks[-1] * plot, 1), _at(s.titles, i)))  # fmt: skip
            if s.values[i] is not None:
                shown.append(Label(round(x + width / 2, 3), down(value) - 4, _at(s.shown, i)))
    return Chart(
        height=height,
        base=base,
        ticks=[Tick(t, down(t), tick_label(t, unit)) for t in ticks],
        bars=bars,
        values=[label for label in shown if label.text],
        slots=[
            Label(round(i * slot + slot / 2, 3), height - 6, name)
            for i, name in enumerate(slots)
            if i % every == 0
        ],
        legend=[s.name for s in series],
        line=Tick(line, down(line), tick_label(line, unit)) if line is not None else None,
        titles=list(titles),
    )


@dataclass(frozen=True)
class Row:
    """One bar of a bar chart across: its name, its length in percent, and its value written."""

    name: str
    y: float
    width: float
    value: str
    title: str


@dataclass(frozen=True)
class BarsAcross:
    """A chart of one bar per name, longest to the right."""

    height: int
    rows: list[Row]
    ticks: list[Tick]


ROW = 40


def bars_across(
    names: Sequence[str], values: Sequence[float | None], shown: Sequence[str] = (),
    titles: Sequence[str] = (), top: float | None = None
) -> BarsAcross:  # fmt: skip
    """Horizontal bars, one per name, each ``ROW`` pixels tall with its name above it."""
    ticks = nice_ticks(max([v or 0.0 for v in values] + [top or 0.0]))
    rows = [
        Row(name, i * ROW, round((value or 0.0) / ticks[-1] * 100, 3), _at(shown, i),
            _at(titles, i))
        for i, (name, value) in enumerate(zip(names, values, strict=True))
    ]  # fmt: skip
    height = len(rows) * ROW + FOOT
    return BarsAcross(
        height=height,
        rows=rows,
        ticks=[Tick(t, round(t / ticks[-1] * 100, 3), tick_label(t)) for t in ticks],
    )


def _at(texts: Sequence[str], i: int) -> str:
    return texts[i] if i < len(texts) else ""
