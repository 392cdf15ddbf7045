"""The dashboard's server-drawn charts: round gridlines, points placed in time, gaps joined, a lone value as a dot."""

from __future__ import annotations

import pytest

from my_app_web.live.admin.dashboard_live.chart import (
    BOTTOM,
    HEIGHT,
    LEFT,
    RIGHT,
    TOP,
    WIDTH,
    Series,
    line_chart,
    nice_step,
)


def test_gridlines_are_round_numbers_above_the_highest_value() -> None:
    chart = line_chart([Series("rate", [(0.0, 0.5), (60.0, 0.3)])], start=0.0, end=300.0)

    assert [tick.value for tick in chart.y_ticks] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert (chart.y_ticks[0].position, chart.y_ticks[-1].position) == (HEIGHT - BOTTOM, TOP)


@pytest.mark.parametrize(
    ("value", "step"), [(0.0, 0.25), (0.125, 0.2), (0.9, 1.0), (2.2, 2.5), (3.0, 5.0), (70.0, 100.0), (250.0, 250.0)]
)
def test_nice_step(value: float, step: float) -> None:
    assert nice_step(value) == pytest.approx(step)


def test_points_are_placed_by_time_and_value_and_gaps_are_joined() -> None:
    chart = line_chart(
        [Series("p50", [(0.0, 4.0), (150.0, None), (300.0, 0.0), (400.0, 9.0)])], start=0.0, end=300.0, x_step=60
    )

    (drawn,) = chart.series
    assert (
        drawn.points == f"{LEFT},{TOP} {WIDTH - RIGHT},{HEIGHT - BOTTOM}"
    )  # the None and the later value are left out
    assert drawn.dot is None
    assert [tick.value for tick in chart.x_ticks] == [300, 240, 180, 120, 60, 0]
    assert chart.x_ticks[-1].position == WIDTH - RIGHT
    assert not chart.empty


def test_a_lone_value_is_a_dot_and_no_value_is_an_empty_chart() -> None:
    lone = line_chart([Series("p95", [(300.0, 2.0)])], start=0.0, end=300.0)
    nothing = line_chart([Series("p95", [(10.0, None)])], start=0.0, end=300.0)

    assert lone.series[0].dot == (WIDTH - RIGHT, TOP)
    assert nothing.empty
    assert nothing.series[0].points == ""
