"""Out-of-office: an approver names a stand-in for a period, and may end it early."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from exceptions_portal import formatting
from exceptions_portal.people import display_name
from requests import notifications
from requests.authority import delegation_period_errors, portal_today
from requests.models import Delegation
from requests.services.errors import DelegationRefused, NotYours


def delegation_create(
    *, approver: AbstractBaseUser, delegate: AbstractBaseUser, starts_on: date, ends_on: date
) -> Delegation:
    """An out-of-office: from ``starts_on`` to ``ends_on`` the delegate sees and decides the approver's queue."""
    if delegate.pk == approver.pk:
        raise DelegationRefused("Choose someone else to stand in for you.")
    if not delegate.is_active or not delegate.has_perm("requests.decide_exceptionrequest"):
        raise DelegationRefused(f"{display_name(delegate)} is not an approver and cannot stand in for you.")
    errors = delegation_period_errors(
        starts_on=starts_on, ends_on=ends_on, today=portal_today(), max_days=settings.DELEGATION_MAX_DAYS
    )
    if errors:
        raise DelegationRefused(" ".join(errors))
    delegation = Delegation(approver=approver, delegate=delegate, starts_on=starts_on, ends_on=ends_on)
    delegation._history_user = approver
    delegation._change_reason = (
        f"Out of office from {formatting.local(starts_on, formatting.TEXT_DATE)} "
        f"to {formatting.local(ends_on, formatting.TEXT_DATE)}: {display_name(delegate)} stands in"
    )
    delegation.save()
    if starts_on <= portal_today():
        notifications.stand_in_started(delegation)
    return delegation


def delegation_end(*, delegation_id: int, approver: AbstractBaseUser) -> None:
    """End an out-of-office early (or cancel a future one). History keeps the record."""
    with transaction.atomic():
        delegation = Delegation.objects.select_for_update().filter(pk=delegation_id, approver=approver).first()
        if delegation is None:
            raise NotYours("That out-of-office is not yours.")
        today = portal_today()
        if delegation.ends_on < today:
            raise DelegationRefused(
                f"That out-of-office already ended on {formatting.local(delegation.ends_on, formatting.TEXT_DATE)}: nothing to end."
            )
        delegation._history_user = approver
        if delegation.starts_on >= today:
            delegation._change_reason = "Out of office cancelled before it started"
            delegation.delete()
        else:
            delegation._change_reason = "Out of office ended early"
            delegation.ends_on = today - timedelta(days=1)
            delegation.save()
