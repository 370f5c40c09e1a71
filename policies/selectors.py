"""Reads about policies: the plain data the pure rules (routing, SLA clock) work on."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, Q, QuerySet

from policies.models import ApproverLevel, Policy, RepRight, RulesVersion
from policies.routing import ApproverSpec, ControlSpec, PolicySpec, TierSpec
from requests.sla import Calendar


def policies_with_rules() -> QuerySet[Policy]:
    """Policies with everything routing needs, in a fixed number of queries."""
    return Policy.objects.select_related("problem_type", "calendar").prefetch_related(
        "tiers",
        "controls",
        "calendar__holidays",
        Prefetch("approver_levels", queryset=ApproverLevel.objects.select_related("user", "group")),
    )


# This process's policies with their rules, each under the rules version it was read at.
_RULES_CACHE: dict[int, tuple[str, Policy]] = {}


def policy_with_rules(policy_id: int) -> Policy | None:
    """One policy with everything routing needs: one query while the rules are unchanged.

    Kept per process under the rules version (``RulesVersion``, given a new stamp by any change an admin
    makes, policies.signals), read first: rules changed after that read are cached under the old stamp and
    read again at the next request. The policy's latest history row (the version a grant records) comes
    with it. Callers must not change the returned object.
    """
    stamp = RulesVersion.objects.filter(pk=1).values_list("stamp", flat=True).first()
    cached = _RULES_CACHE.get(policy_id)
    if stamp is not None and cached is not None and cached[0] == stamp:
        return cached[1]
    policy = policies_with_rules().filter(pk=policy_id).first()
    if policy is None:
        return None
    policy.latest_history_id = policy.history.order_by("-history_id").values_list("history_id", flat=True).first()
    if stamp is not None:
        _RULES_CACHE[policy_id] = (stamp, policy)
    return policy


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


def approver_authority(*, user_ids: list[int], group_ids: list[int], policy_id: int, level: int) -> Decimal | None:
    """The largest money authority any of these users or groups holds at this level of this policy."""
    rows = ApproverLevel.objects.filter(policy_id=policy_id, level=level).filter(
        Q(user_id__in=user_ids) | Q(group_id__in=group_ids)
    )
    authorities = [row.money_authority for row in rows]
    return max(authorities) if authorities else None
