"""Chart geometry for the dashboard's SVG templates: numbers in, coordinates out.

The templates (admin/insights/chart_*.html) draw what these compute; no JavaScript, nothing
fetched, readable by screen readers through each chart's title and the table beside it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28
# Colour-blind-safe (Okabe-Ito), in series order.
COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"]


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Label:
    x: float
    text: str


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Line:
    name: str
    colour: str
    segments: list[str]  # "x,y x,y ..." per run of known values
    dots: list[tuple[float, float]]  # each known value (a lone day shows as a dot)
    dashed: bool = False


@dataclass
class Chart:
    title: str
    width: int = WIDTH
    height: int = HEIGHT
    ticks: list[Tick] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    rects: list[Rect] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (colour, name)
    left: int = LEFT
    bottom: float = HEIGHT - BOTTOM
    right: float = WIDTH - RIGHT


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _frame(title: str, days: Sequence[dt.date], top: float, fmt: Callable[[float], str]) -> Chart:
    chart = Chart(title=title)
    plot_height = chart.bottom - TOP
    for i in range(5):
        value = top * i / 4
        chart.ticks.append(Tick(round(chart.bottom - plot_height * i / 4, 1), fmt(value)))
    every = max(1, math.ceil(len(days) / 10))
    for i, day in enumerate(days):
        if i % every == 0:
            chart.labels.append(Label(round(_x(chart, days, i), 1), day.strftime("%d %b")))
    return chart


def _x(chart: Chart, days: Sequence[dt.date], index: float) -> float:
    step = (chart.right - chart.left) / max(1, len(days))
    return chart.left + step * (index + 0.5)


def _y(chart: Chart, value: float, top: float) -> float:
    return round(chart.bottom - (chart.bottom - TOP) * value / top, 1)


def stacked_bars(title: str, days: Sequence[dt.date], series: Mapping[str, Sequence[int]]) -> Chart:
    """One bar per day, stacked by series (e.g. searches by kind)."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(days))]
    top = _nice_max(max(totals, default=0))
    chart = _frame(title, days, top, lambda v: f"{v:g}")
    step = (chart.right - chart.left) / max(1, len(days))
    width = max(1.0, step * 0.7)
    for colour, name in zip(COLOURS, series, strict=False):
        chart.legend.append((colour, name))
    base = [0.0] * len(days)
    for colour, (name, values) in zip(COLOURS, series.items(), strict=False):
        for i, value in enumerate(values):
            if not value:
                continue
            y_top, y_base = _y(chart, base[i] + value, top), _y(chart, base[i], top)
            x = round(_x(chart, days, i) - width / 2, 1)
            chart.rects.append(Rect(x, y_top, round(width, 1), round(y_base - y_top, 1), colour,
                                    f"{days[i]:%d %b}: {value} {name}"))  # fmt: skip
            base[i] += value
    return chart


def lines(
    title: str,
    days: Sequence[dt.date],
    series: Mapping[str, Sequence[float | None]],
    *,
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
    top: float | None = None,
    dashed: Sequence[str] = (),
) -> Chart:
    """One line per series; a day without a value breaks the line."""
    known = [v for values in series.values() for v in values if v is not None]
    top = top or _nice_max(max(known, default=0.0))
    chart = _frame(title, days, top, fmt)
    for colour, (name, values) in zip(COLOURS, series.items(), strict=False):
        segments: list[str] = []
        points: list[str] = []
        dots: list[tuple[float, float]] = []
        for i, value in enumerate(values):
            if value is None:
                if points:
                    segments.append(" ".join(points))
                points = []
                continue
            x, y = round(_x(chart, days, i), 1), _y(chart, min(value, top), top)
            points.append(f"{x},{y}")
            dots.append((x, y))
        if points:
            segments.append(" ".join(points))
        chart.lines.append(Line(name, colour, segments, dots, dashed=name in dashed))
        chart.legend.append((colour, name))
    return chart


def percent(value: float) -> str:
    return f"{value:.0%}"


def milliseconds(value: float) -> str:
    return f"{value:g} ms"
