"""Reads about policies: the plain data the routing rule works on (the SLA clock's calendar is read in
requests.selectors, beside the clock)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from exceptions_portal import roles
from policies.models import ApproverLevel, Policy, RepRight, RulesVersion
from policies.routing import ApproverSpec, ControlSpec, PolicySpec, TierSpec


def policies_with_rules() -> QuerySet[Policy]:
    """Policies with everything routing needs, in a fixed number of queries."""
    return Policy.objects.select_related("problem_type", "calendar").prefetch_related(
        "tiers",
        "controls",
        "calendar__holidays",
        # Routing by amount counts only approvers (active, with the approver role, exceptions_portal/roles.py): a row
        # counts through its user, or through its group's members who are approvers.
        Prefetch(
            "approver_levels",
            queryset=ApproverLevel.objects.select_related("user", "group").annotate(
                user_is_approver=Exists(roles.approvers(get_user_model().objects.filter(pk=OuterRef("user_id"))))
            ),
        ),
        Prefetch(
            "approver_levels__group__user_set",
            queryset=roles.approvers(get_user_model().objects.all()).only("pk"),
            to_attr="active_members",
        ),
    )


def _active_holders(row: ApproverLevel) -> frozenset[int]:
    if row.user_id:
        is_approver = getattr(row, "user_is_approver", None)
        if is_approver is None:  # not prefetched
            is_approver = roles.approvers(get_user_model().objects.filter(pk=row.user_id)).exists()
        return frozenset({row.user_id}) if is_approver else frozenset()
    members = getattr(row.group, "active_members", None)
    if members is None:  # not prefetched
        members = roles.approvers(row.group.user_set.all()).only("pk")
    return frozenset(member.pk for member in members)


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
                active_holders=_active_holders(a),
            )
            for a in policy.approver_levels.all()
        ),
        controls=tuple(ControlSpec(name=c.name, why=c.why) for c in policy.controls.all()),
    )


def rep_has_tier2_right(*, user: AbstractBaseUser, policy: Policy) -> bool:
    """The right is held directly or through one of the user's groups."""
    return RepRight.objects.filter(Q(user=user) | Q(group__in=user.groups.all()), policy=policy).exists()
