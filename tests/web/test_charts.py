"""Chart geometry: round ticks, bars scaled to the axis, and nothing odd for empty data."""

from __future__ import annotations

import pytest

from ivr.web.charts import FOOT, HEAD, Series, bars_across, column_chart, nice_ticks


@pytest.mark.parametrize(
    ("largest", "ticks"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (12, [0, 5, 10, 15]),
        (100, [0, 20, 40, 60, 80, 100]),
        (101, [0, 50, 100, 150]),
        (0.3, [0, 0.1, 0.2, 0.3]),
        (4321, [0, 1000, 2000, 3000, 4000, 5000]),
    ],
)
def test_ticks_are_round_and_reach_the_largest_value(largest: float, ticks: list[float]) -> None:
    assert nice_ticks(largest) == ticks


def test_a_bar_reaches_its_value_on_the_axis() -> None:
    chart = column_chart(["0", "1", "2", "3"], [Series("calls", [0, 5, 10, 2])], height=220)
    base, top = 220 - FOOT, HEAD
    assert chart.base == base
    assert (chart.ticks[0].value, chart.ticks[0].at) == (0, base)
    assert chart.ticks[-1].value == 10 and chart.ticks[-1].at == top
    heights = [b.height for b in chart.bars]
    assert heights == [0, (base - top) / 2, base - top, (base - top) / 5]
    assert [b.x + b.width / 2 for b in chart.bars] == pytest.approx([12.5, 37.5, 62.5, 87.5])
    assert all(b.y + b.height == base for b in chart.bars)
    assert [s.text for s in chart.slots] == ["0", "1", "2", "3"]


def test_stacked_bars_sit_on_each_other_and_carry_the_total() -> None:
    chart = column_chart(
        ["9", "10"],
        [Series("answered", [3, 0], titles=["a9", "a10"]), Series("gave up", [1, 0])],
        stacked=True,
        totals=["4", ""],
    )
    answered, gave_up = chart.bars  # nothing drawn for an empty hour
    assert answered.series == 0 and gave_up.series == 1
    assert gave_up.y + gave_up.height == answered.y  # on top
    assert answered.title == "a9"
    assert [(v.text, v.y) for v in chart.values] == [("4", gave_up.y - 4)]
    assert chart.legend == ["answered", "gave up"]


def test_empty_data_draws_an_axis_and_no_values() -> None:
    chart = column_chart([str(h) for h in range(24)], [Series("calls", [0] * 24)])
    assert [t.value for t in chart.ticks] == [0, 1]
    assert all(b.height == 0 for b in chart.bars)
    assert chart.values == []
    none = column_chart([], [Series("calls", [])])
    assert none.bars == [] and none.slots == []


def test_one_value_fills_the_plot_and_a_goal_line_sets_the_scale() -> None:
    chart = column_chart(["12"], [Series("calls", [7], shown=["7"])])
    [bar] = chart.bars
    assert chart.ticks[-1].value == 8
    assert bar.height == pytest.approx(7 / 8 * (chart.base - HEAD), abs=0.1)
    assert bar.x == pytest.approx(11) and bar.width == pytest.approx(78)  # the slot, less a gap
    assert [v.text for v in chart.values] == ["7"]
    share = column_chart(["9"], [Series("share", [50.0], shown=["50%"])], top=100, line=80,
                         unit="%")  # fmt: skip
    assert share.ticks[-1].label == "100%" and share.line is not None
    assert share.line.at == pytest.approx(share.base - 0.8 * (share.base - HEAD), abs=0.1)


def test_missing_values_draw_no_value() -> None:
    chart = column_chart(["0", "1"], [Series("wait", [None, 4], shown=["", "4"])])
    assert [v.text for v in chart.values] == ["4"]


def test_bars_across_are_scaled_to_the_longest() -> None:
    chart = bars_across(["li", "wang"], [6, 3], shown=["6", "3"], titles=["li 6", "wang 3"])
    assert [r.width for r in chart.rows] == [100, 50]
    assert [r.y for r in chart.rows] == [0, 40]
    assert chart.ticks[0].at == 0 and chart.ticks[-1].at == 100
    rated = bars_across(["li"], [None], top=5, shown=["–"])
    assert rated.rows[0].width == 0 and rated.ticks[-1].value == 5
    assert bars_across([], []).rows == []
