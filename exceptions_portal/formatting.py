"""How the portal writes amounts of money and durations, wherever they are shown (pages, CSV, history)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal


def money(amount: Decimal) -> str:
    """An amount with thousands separators and cents: "1,250.00".

    The pure rules (policies.routing) write amounts into their sentences with their own ``money``, of the same
    format: they import nothing of ours, so that they stay plain functions of plain data.
    """
    return f"{amount:,.2f}"


def format_duration(value: timedelta | None) -> str:
    """A time to decision as people read it: "45 min", "2 h 05 min", "3 d 4 h"."""
    if not isinstance(value, timedelta):
        return ""  # no decision in the group (templates pass "" for a missing key)
    minutes = int(value.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
