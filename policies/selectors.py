"""Reads about policies: the plain data the pure rules (routing, SLA clock) work on."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, Q, QuerySet

from policies.models import ApproverLevel, Policy, RepRight
from policies.routing import ApproverSpec, ControlSpec, PolicySpec, TierSpec
from requests.sla import Calendar


def policies_with_rules() -> QuerySet[Policy]:
    """Policies with everything routing needs, in a fixed number of queries."""
    return Policy.objects.select_related("problem_type", "calendar").prefetch_related(
        "tiers",
        "controls",
        "calendar__holidays",
        Prefetch("approver_levels", queryset=ApproverLevel.objects.select_related("user", "group")),
        # Routing by amount counts only active approvers: a group counts through its active members.
        Prefetch(
            "approver_levels__group__user_set",
            queryset=get_user_model().objects.filter(is_active=True).only("pk"),
            to_attr="active_members",
        ),
    )


def _active_holders(row: ApproverLevel) -> frozenset[int]:
    if row.user_id:
        return frozenset({row.user_id}) if row.user.is_active else frozenset()
    members = getattr(row.group, "active_members", None)
    if members is None:  # not prefetched
        members = row.group.user_set.filter(is_active=True).only("pk")
    return frozenset(member.pk for member in members)


def policy_spec(policy: Policy) -> PolicySpec:
    return PolicySpec(
        name=policy.name,
        active=policy.active,
        tiers=tuple(
            TierSpec(
                level=t.level,
                kind=t.kind,
                sentiments=frozenset(t.sentiments or ()),
                money_cap=t.money_cap,
                max_business_days=t.max_business_days,
                supplier_exceptions_allowed=t.supplier_exceptions_allowed,
            )
            for t in policy.tiers.all()
        ),
        approvers=tuple(
            ApproverSpec(
                level=a.level,
                name=a.holder_name,
                money_authority=a.money_authority,
                user_id=a.user_id,
                group_id=a.group_id,
                active_holders=_active_holders(a),
            )
            for a in policy.approver_levels.all()
        ),
        controls=tuple(ControlSpec(name=c.name, why=c.why) for c in policy.controls.all()),
    )


def calendar_spec(policy: Policy) -> Calendar | None:
    """The policy's business calendar as the SLA clock's plain data; None counts wall-clock minutes."""
    calendar = policy.calendar
    if calendar is None:
        return None
    return Calendar(
        time_zone=calendar.time_zone,
        working_days=frozenset(calendar.working_days),
        opens_at=calendar.opens_at,
        closes_at=calendar.closes_at,
        holidays=frozenset(h.date for h in calendar.holidays.all()),
    )


def rep_has_tier2_right(*, user: AbstractBaseUser, policy: Policy) -> bool:
    """The right is held directly or through one of the user's groups."""
    return RepRight.objects.filter(Q(user=user) | Q(group__in=user.groups.all()), policy=policy).exists()
