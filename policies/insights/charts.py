"""Server-side SVG charts: pure geometry for the templates, no JavaScript, no CDN.

Each chart is also shown as a table next to it, so it is readable without
images and by screen readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from exceptions_portal import formatting

# Every colour at 3:1 or more against white (WCAG 1.4.11), and each line also told apart without colour:
# its own dash pattern and marker shape.
PALETTE = ["#0a58ca", "#b02a37", "#146c43", "#a04b00", "#59359a", "#0b6e60", "#a3206a", "#495057", "#086a80", "#7a5b00"]
DASHES = ["", "8 4", "2 3", "12 3 3 3", "4 4", "1 5", "10 6", "6 2 2 2"]
MARKERS = ["circle", "square", "triangle", "diamond"]
# The frame, in Bootstrap's greys: the axis, the grid lines, the axis labels and the bars' labels.
AXIS, GRID, AXIS_LABEL, TEXT = "#adb5bd", "#e9ecef", "#6c757d", "#212529"


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    points: str  # SVG polyline points
    total: int
    dash: str = ""
    marker: str = "circle"


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    series: list[Series]
    x_labels: list[tuple[float, str]]
    y_labels: list[tuple[float, str]]
    plot_left: int
    plot_bottom: int
    plot_right: int
    plot_top: int


def line_chart(weeks: list[date], series: list[dict], *, width: int = 760, height: int = 260) -> LineChart:
    left, right, top, bottom = 44, width - 12, 10, height - 34
    peak = max((max(s["counts"]) for s in series if s["counts"]), default=0) or 1
    step = (right - left) / max(len(weeks) - 1, 1)

    def y(value: int) -> float:
        return round(bottom - (bottom - top) * value / peak, 1)

    drawn = [
        Series(
            name=s["name"],
            color=PALETTE[i % len(PALETTE)],
            points=" ".join(f"{round(left + step * j, 1)},{y(v)}" for j, v in enumerate(s["counts"])),
            total=sum(s["counts"]),
            dash=DASHES[i % len(DASHES)],
            marker=MARKERS[i % len(MARKERS)],
        )
        for i, s in enumerate(series)
    ]
    every = max(1, len(weeks) // 8)
    x_labels = [
        (round(left + step * j, 1), formatting.local(w, formatting.TEXT_DAY_MONTH))
        for j, w in enumerate(weeks)
        if j % every == 0
    ]
    y_labels = [(y(v), str(v)) for v in sorted({0, peak // 2, peak})]
    return LineChart(width, height, drawn, x_labels, y_labels, left, bottom, right, top)


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    y: float
    width: float


def bar_chart(items: list[tuple[str, int]], *, width: int = 760, bar_height: int = 22, label_width: int = 220) -> dict:
    peak = max((v for _, v in items), default=0) or 1
    room = width - label_width - 50
    bars = [
        Bar(label, value, i * (bar_height + 8), round(room * value / peak, 1)) for i, (label, value) in enumerate(items)
    ]
    return {
        "bars": bars,
        "width": width,
        "height": max(len(items) * (bar_height + 8), bar_height),
        "bar_height": bar_height,
        "label_width": label_width,
        "color": PALETTE[0],
    }
