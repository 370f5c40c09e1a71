"""The analysis page's pieces: a KPI card, the weekly line chart and the bar chart (part of the insights)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django import template

from policies.insights import charts

register = template.Library()

# The chart's frame colours, for the SVG templates (the series take theirs from charts.PALETTE).
FRAME = {"axis": charts.AXIS, "grid": charts.GRID, "axis_label": charts.AXIS_LABEL, "text": charts.TEXT}


@register.inclusion_tag("policies/_kpi_card.html")
def kpi_card(value: object, label: str, *, size: int = 4, second: object = None) -> dict:
    """One figure of the period's totals: ``value`` (and ``second`` after a slash) over its ``label``."""
    return {"value": value, "second": second, "label": label, "size": size}


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value} %"


@register.inclusion_tag("policies/_line_chart.html")
def line_chart(weeks: list[date], series: list[dict], *, label: str) -> dict:
    """Counts per week, a line per series ({name, counts}), drawn as SVG."""
    return {"chart": charts.line_chart(weeks, series), "label": label, "frame": FRAME}


@register.inclusion_tag("policies/_bar_chart.html")
def bar_chart(
    rows: Sequence[dict], label_key: str, value_key: str, *, label: str, width: int = 480, label_width: int = 190
) -> dict:
    """A bar per row (its ``label_key`` and ``value_key``), drawn as SVG."""
    items = [(row[label_key], row[value_key]) for row in rows]
    return {
        "chart": charts.bar_chart(items, width=width, label_width=label_width),
        "label": label,
        "frame": FRAME,
    }
