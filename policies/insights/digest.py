"""The weekly digest: each policy owner's figures for the last seven days and their open flags, by email."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from exceptions_portal import formatting
from policies.insights.figures import summary
from policies.insights.periods import Period
from policies.models import DigestLog, Policy, ReviewFlag


def weekly_digest_send(*, today: date | None = None) -> int:
    """Email each policy owner their policies' figures for the last 7 days and their open flags,
    once per owner and week (DigestLog claims it)."""
    today = today or timezone.localdate()
    week_start = today - timedelta(days=today.weekday())
    period = Period(start=today - timedelta(days=7), end=today - timedelta(days=1))
    by_policy = {row["key"]: row for row in summary(period, by="policy")}
    sent = 0
    owners = (
        Policy.objects.filter(owner__isnull=False, owner__is_active=True)
        .order_by()
        .values_list("owner", flat=True)
        .distinct()
    )
    for owner_id in owners:
        try:
            with transaction.atomic():
                DigestLog.objects.create(owner_id=owner_id, week_start=week_start)
                policies = list(Policy.objects.filter(owner_id=owner_id).select_related("owner").order_by("name"))
                owner = policies[0].owner
                if not owner.email:
                    continue
                send_mail(
                    subject=f"[Exceptions portal] Your policies, week of {formatting.local(week_start, formatting.TEXT_DATE)}",
                    message=_digest_text(policies, by_policy, period),
                    from_email=settings.DEFAULT_FROM_EMAIL,
                    recipient_list=[owner.email],
                )
                sent += 1
        except IntegrityError:
            continue  # already sent this week
    return sent


def _digest_text(policies: list[Policy], by_policy: dict, period: Period) -> str:
    lines = [
        f"Exceptions filed under your policies from {formatting.local(period.start, formatting.TEXT_DAY_MONTH)} "
        f"to {formatting.local(period.end, formatting.TEXT_DATE)}:",
        "",
    ]
    for policy in policies:
        row = by_policy.get(policy.pk)
        if row:
            lines.append(
                f"- {policy.name}: {row['filed']} filed, {row['granted_by_rep']} granted by reps, "
                f"{row['approved']} approved, {row['denied']} denied, {row['pending']} pending, "
                f"{sum(row['breaches'].values())} SLA breach(es)."
            )
        else:
            lines.append(f"- {policy.name}: no exceptions.")
    flags = ReviewFlag.objects.filter(policy__in=policies, resolved_at__isnull=True).select_related("policy")
    if flags:
        lines += ["", "Flagged for review:"]
        lines += [f"- {flag.policy.name}: {flag.reason}" for flag in flags]
    lines += ["", f"Analysis: {settings.PORTAL_BASE_URL.rstrip('/')}{reverse('policies:analysis')}"]
    return "\n".join(lines)
