"""Review flags: a policy flagged when the same kind of exception keeps being granted, and its resolution."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from exceptions_portal import formatting
from exceptions_portal.people import system_user
from policies.models import Policy, ReviewFlag
from requests import notifications, webhooks
from requests.models import GRANTED_STATUSES, Cause, ExceptionRequest


class PolicyError(Exception):
    """A rule refused the change; nothing was written. The message is for people."""


class InvalidReview(PolicyError):
    """The review's resolution or note is missing or not one of the choices."""


class FlagNotFound(PolicyError):
    """The review flag does not exist."""


class FlagAlreadyResolved(PolicyError):
    """The flag was resolved before: its resolution is not changed afterwards."""


@dataclass(frozen=True)
class FlagOutcome:
    flag: ReviewFlag | None
    raised: bool


def policy_review_check(*, policy_id: int, now: datetime | None = None) -> FlagOutcome:
    """Flag the policy when it received its review threshold of granted exceptions with the same
    cause within its review window. Idempotent: one open flag per policy, the owner told once.

    Exceptions granted before the policy's last review do not count again: "kept as is" must not
    be undone by the very requests that were reviewed.
    """
    now = now or timezone.now()
    with transaction.atomic():
        policy = Policy.objects.select_for_update(of=("self",)).select_related("owner").get(pk=policy_id)
        open_flag = policy.review_flags.filter(resolved_at__isnull=True).first()
        if open_flag is not None:
            return FlagOutcome(open_flag, raised=False)
        since = now - timedelta(days=policy.review_window_days)
        last_review = (
            policy.review_flags.filter(resolved_at__isnull=False)
            .order_by("-resolved_at")
            .values_list("resolved_at", flat=True)
            .first()
        )
        if last_review and last_review > since:
            since = last_review
        granted = ExceptionRequest.objects.filter(
            policy=policy, status__in=GRANTED_STATUSES, decided_at__gte=since, decided_at__lte=now
        )
        repeated = (
            granted.values("cause")
            .annotate(n=Count("pk"))
            .filter(n__gte=policy.review_threshold)
            .order_by("-n", "cause")
            .first()
        )
        if repeated is None:
            return FlagOutcome(None, raised=False)
        cause = repeated["cause"]
        behind = list(granted.filter(cause=cause).order_by("decided_at").values_list("pk", "reference"))
        reason = (
            f"{repeated['n']} exceptions with the cause “{Cause(cause).label.lower()}” within {policy.review_window_days} days "
            f"({', '.join(ref for _, ref in behind)}): a request that comes twice says the policy is broken."
        )
        flag = ReviewFlag(
            policy=policy, cause=cause, reason=reason, request_ids=[pk for pk, _ in behind], raised_at=now
        )
        flag._history_user = system_user()
        flag._change_reason = "Raised by the review check"
        flag._change_reason = "Raised by the review check"
        try:
            with transaction.atomic():
                flag.save()
        except IntegrityError:
            # Another worker raised it first (the one-open-flag constraint).
            return FlagOutcome(policy.review_flags.filter(resolved_at__isnull=True).first(), raised=False)
        policy.needs_review = True
        policy.review_reason = reason
        policy._history_user = flag._history_user
        policy._change_reason = "Flagged for review"
        policy.save()
        notifications.policy_flagged(policy, reason=reason)
        flag.owner_notified_at = now
        flag.save_without_historical_record(update_fields=["owner_notified_at"])
        webhooks.emit("review-flagged", policy=policy)
    return FlagOutcome(flag, raised=True)


def policy_review_resolve(*, flag_id: int, admin: AbstractBaseUser, resolution: str, note: str) -> ReviewFlag:
    """A policy admin marks a flagged policy as reviewed; the flag and the resolution stay in history."""
    note = note.strip()
    if resolution not in ReviewFlag.Resolution.values:
        raise InvalidReview("Choose what the review changed: the policy, the tiers, or nothing.")
    if not note:
        raise InvalidReview("Write a short note on what was reviewed.")
    with transaction.atomic():
        flag = ReviewFlag.objects.select_for_update().select_related("policy").filter(pk=flag_id).first()
        if flag is None:
            raise FlagNotFound("That review flag does not exist.")
        if flag.resolved_at is not None:
            raise FlagAlreadyResolved(
                f"This flag was already resolved on {formatting.local(flag.resolved_at, formatting.TEXT_DATE)}."
            )
        flag.resolved_at = timezone.now()
        flag.resolved_by = admin
        flag.resolution = resolution
        flag.resolution_note = note
        flag._history_user = admin
        flag._change_reason = f"Resolved: {ReviewFlag.Resolution(resolution).label.lower()}"
        flag._change_reason = f"Resolved: {ReviewFlag.Resolution(resolution).label.lower()}"
        flag.save()
        policy = Policy.objects.select_for_update().get(pk=flag.policy_id)
        policy.needs_review = False
        policy.review_reason = ""
        policy._history_user = admin
        policy._change_reason = f"Reviewed: {ReviewFlag.Resolution(resolution).label.lower()}. {note}"[:1000]
        policy.save()
    return flag


def review_sweep(*, now: datetime | None = None) -> int:
    """The nightly check of every active policy; returns how many flags were raised."""
    return sum(
        policy_review_check(policy_id=pk, now=now).raised
        for pk in Policy.objects.filter(active=True).values_list("pk", flat=True)
    )
