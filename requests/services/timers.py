"""Precise SLA timers: a check scheduled at a deadline or reminder that falls before the next sweep."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from exceptions_portal.celery import task_named
from requests import sla

# Timers closer together than this are merged into one check (rounded up, never early).
TIMER_RESOLUTION = timedelta(milliseconds=100)


def sla_timer_horizon() -> timedelta:
    """How far ahead precise SLA timers are set: the sweep interval (the sweep is the backstop beyond)."""
    return timedelta(seconds=settings.SLA_SWEEP_SECONDS)


def sla_checks_schedule(moments: list[datetime | None], *, now: datetime) -> list[float]:
    """Once the transaction commits, schedule a precise check at each deadline or reminder of ``moments``
    that falls before the next sweep (a countdown never longer than the sweep interval). The check is the
    sweep itself, so an early, late, duplicated or lost timer changes nothing: the sweep stays the backstop."""
    horizon = sla_timer_horizon()
    countdowns = sla.timer_countdowns(moments, now=now, horizon=horizon, resolution=TIMER_RESOLUTION)
    if countdowns:
        # The countdowns count from ``now``; the commit may come a little later, so each is shortened
        # by the time gone (a timer a few milliseconds early finds nothing and the next one does it).
        def publish() -> None:
            gone = (timezone.now() - now).total_seconds()
            for countdown in countdowns:
                left = max(0.0, countdown - gone)
                task_named("requests.tasks.sla_check").apply_async(
                    countdown=left, expires=left + horizon.total_seconds()
                )

        transaction.on_commit(publish)
    return countdowns
