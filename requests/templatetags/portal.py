"""Template helpers that present the SLA clock, money and people."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django import template
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from exceptions_portal.formatting import format_duration
from exceptions_portal.formatting import money as format_money
from exceptions_portal.people import display_name
from requests import sla
from requests.models import ExceptionRequest, routing_reason_text

register = template.Library()

STATE_LABELS = {
    sla.SlaState.ON_TIME: ("On time", "text-bg-success"),
    sla.SlaState.DUE_SOON: ("Due soon", "text-bg-warning"),
    sla.SlaState.BREACHED: ("Overdue", "text-bg-danger"),
}

STATUS_BADGES = {
    "granted": "text-bg-success",
    "approved": "text-bg-success",
    "pending": "text-bg-primary",
    "escalated": "text-bg-danger",
    "waiting_for_rep": "text-bg-secondary",
    "denied": "text-bg-dark",
    "withdrawn": "text-bg-light border",
}


@register.filter
def money(value: Decimal | None) -> str:
    return "—" if value is None else format_money(value)


@register.simple_tag
def time_left(due_at: datetime | None, now: datetime | None = None) -> str:
    if due_at is None:
        return "—"
    return sla.format_time_left(sla.time_left(now=now or timezone.now(), due_at=due_at))


@register.simple_tag
def sla_badge(req: ExceptionRequest, now: datetime | None = None) -> dict:
    """The SLA state of an open request: on time, due soon, or breached (at which level)."""
    if not req.is_open or req.due_at is None:
        return {}
    state = sla.sla_state(now=now or timezone.now(), due_at=req.due_at, remind_at=req.remind_at)
    label, css = STATE_LABELS[state]
    if req.breached_level and state is not sla.SlaState.BREACHED:
        label = f"{label} · breached at level {req.breached_level}"
    return {"label": label, "css": css, "state": str(state)}


@register.filter
def person(user: AbstractBaseUser | None) -> str:
    """``{{ req.rep|person }}``: how the portal names someone (exceptions_portal.people.display_name)."""
    return "" if user is None else display_name(user)


@register.filter
def duration(value: timedelta | None) -> str:
    return format_duration(value) or "—"


@register.filter
def status_badge(status: str) -> str:
    return STATUS_BADGES.get(status, "text-bg-secondary")


@register.filter
def routing_reason(reason: str | dict) -> str:
    return routing_reason_text(reason)
