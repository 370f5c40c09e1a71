"""Plain helpers the tests share (fixtures are in conftest.py): one clock for every test that needs a moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

FILED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
"""Monday 23 November 2026, 10:00 UTC (10:00 in London, inside office hours): when the tests' requests are filed."""


def at(day: int = FILED.day, hour: int = FILED.hour, minute: int = 0, *, plus: float = 0) -> datetime:
    """A moment of November 2026 in UTC, ``plus`` minutes later.

    ``at(19, 10, 30)`` is 19 November at 10:30; ``at(plus=90)`` is 90 minutes after ``FILED``."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) + timedelta(minutes=plus)
