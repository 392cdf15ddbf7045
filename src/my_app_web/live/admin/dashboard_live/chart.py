"""The dashboard's charts, drawn on the server: the geometry of an inline SVG line chart.

No chart library and no script: `line_chart` turns a few series of (time, value) into polyline
points in a fixed `viewBox`, with round gridline values; `_chart.html` draws it with SVG attributes
and classes only (the CSP allows no inline style). The SVG scales with its container.

Examples:
    chart = line_chart([Series("rate", [(t0, 1.5), (t1, 3.0)])], start=t0, end=t1)
    chart.series[0].points        # "44.0,109.0 472.0,10.0": the polyline (a lone value is drawn as a dot)
    chart.y_ticks                 # [Tick(position=158.0, value=0.0), ..., Tick(position=10.0, value=4.0)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 480.0
HEIGHT = 180.0
LEFT = 44.0  # room for the y labels
RIGHT = 8.0
TOP = 10.0
BOTTOM = 22.0  # room for the x labels
Y_TICKS = 4


@dataclass(frozen=True, slots=True)
class Series:
    """One line: its CSS class and its values over time (None: no value there; the line joins its
    neighbours, as an interval without requests has no latency, not a latency of zero)."""

    name: str
    values: Sequence[tuple[float, float | None]]


@dataclass(frozen=True, slots=True)
class DrawnSeries:
    name: str
    points: str  # SVG `points` of its polyline ("" when it has no value in the window)
    dot: tuple[float, float] | None  # where its only value is, when it has just one


@dataclass(frozen=True, slots=True)
class Tick:
    position: float  # x or y in the viewBox
    value: float


@dataclass(frozen=True, slots=True)
class Chart:
    width: float
    height: float
    left: float
    right: float  # x of the plot's right edge
    top: float
    bottom: float  # y of the plot's bottom edge
    series: tuple[DrawnSeries, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]  # value: seconds before `end` (300, 240, ... 0)

    @property
    def empty(self) -> bool:
        return not any(drawn.points for drawn in self.series)


def nice_step(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k that is ≥ `value` (0.25 for nothing to show)."""
    if value <= 0 or not math.isfinite(value):
        return 0.25
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * magnitude * (1 + 1e-9):
            return step * magnitude
    return 10 * magnitude


def line_chart(series: Sequence[Series], *, start: float, end: float, x_step: float = 60.0) -> Chart:
    """The chart of `series` between `start` and `end` (Unix times), y from 0 to a round maximum."""
    plot_right, plot_bottom = WIDTH - RIGHT, HEIGHT - BOTTOM
    values = [value for line in series for at, value in line.values if value is not None and start <= at <= end]
    # Round gridlines: the step between them is round, so each label is (0, 0.2, 0.4, ... not 0.38).
    top_value = nice_step(max(values, default=0.0) / Y_TICKS) * Y_TICKS
    span = max(end - start, 1e-9)

    def x_of(at: float) -> float:
        return round(LEFT + (at - start) / span * (plot_right - LEFT), 1)

    def y_of(value: float) -> float:
        return round(plot_bottom - value / top_value * (plot_bottom - TOP), 1)

    drawn = []
    for line in series:
        shown = [
            (x_of(at), y_of(value)) for at, value in sorted(line.values) if value is not None and start <= at <= end
        ]
        points = " ".join(f"{x},{y}" for x, y in shown)
        drawn.append(DrawnSeries(line.name, points, shown[0] if len(shown) == 1 else None))
    y_ticks = tuple(
        Tick(position=y_of(top_value * index / Y_TICKS), value=top_value * index / Y_TICKS)
        for index in range(Y_TICKS + 1)
    )
    count = int(span // x_step)
    x_ticks = tuple(Tick(position=x_of(end - ago * x_step), value=ago * x_step) for ago in range(count, -1, -1))
    return Chart(WIDTH, HEIGHT, LEFT, plot_right, TOP, plot_bottom, tuple(drawn), y_ticks, x_ticks)
