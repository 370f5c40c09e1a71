"""Reads about policies: the plain data the routing rule works on (the SLA clock's calendar is read in
requests.selectors, beside the clock)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from exceptions_portal import roles
from policies.models import ApproverLevel, Policy, RepRight, RulesVersion
from policies.routing import ApproverSpec, ControlSpec, PolicySpec, TierSpec

T = TypeVar("T")


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


class _RequestStamp(threading.local):
    """The rules version read by the request this thread serves, kept from its first read to its end."""

    active = False
    stamp: str | None = None


_request_stamp = _RequestStamp()


def rules_stamp() -> str | None:
    """The rules version (``RulesVersion``) now: one query, once per request.

    Within a request (between Django's ``request_started`` and ``request_finished``, policies.signals) the
    first read is kept for the rest of it, as if the whole request ran at that moment; a change to the
    rules made by the request itself forgets it (policies.signals.rules_changed). Outside a request (tasks,
    commands, tests calling services) every call reads the database."""
    memo = _request_stamp
    if memo.active and memo.stamp is not None:
        return memo.stamp
    stamp = _read_stamp()
    if memo.active:
        memo.stamp = stamp
    return stamp


def _read_stamp() -> str | None:
    # Every request reads it: one plain statement, without building a queryset each time.
    with connection.cursor() as cursor:
        cursor.execute(STAMP_SQL)
        row = cursor.fetchone()
    return row[0] if row else None


STAMP_SQL = f'SELECT "stamp" FROM "{RulesVersion._meta.db_table}" WHERE "id" = 1'


def rules_stamp_read_with_session(stamp: str | None) -> None:
    """The rules version as this request's session read it (policies.sessions): kept as its first read."""
    memo = _request_stamp
    if memo.active and memo.stamp is None:
        memo.stamp = stamp


def request_started(**kwargs) -> None:
    _request_stamp.active, _request_stamp.stamp = True, None


def request_finished(**kwargs) -> None:
    _request_stamp.active, _request_stamp.stamp = False, None


def forget_request_stamp() -> None:
    """The rules changed: the request reads their version again (a change it made, or one it rolled back)."""
    _request_stamp.stamp = None


# What this process read under a rules version, by key (kept_per_rules_version).
_KEPT: dict[Hashable, tuple[str, Any]] = {}
# A bound on what a process keeps: past it, it starts over (each entry is read again once).
MAX_KEPT = 10_000


def kept_per_rules_version(key: Hashable, read: Callable[[], T]) -> T:
    """``read()``, kept per process under the rules version (``RulesVersion``, read first, ``rules_stamp``):
    read again only after something that renews the version (policies.signals, and the models the apps add
    there). For data every filing reads and that changes rarely (the policies with their rules, each person's
    permissions, stand-ins, who may decide); the caller must not change what it gets."""
    stamp = rules_stamp()
    cached = _KEPT.get(key)
    if stamp is not None and cached is not None and cached[0] == stamp:
        return cached[1]
    value = read()
    if stamp is not None:
        if len(_KEPT) >= MAX_KEPT:
            _KEPT.clear()
        _KEPT[key] = (stamp, value)
    return value


def policy_with_rules(policy_id: int) -> Policy | None:
    """One policy with everything routing needs: one query while the rules are unchanged (none after the
    first read of the rules version in a request, ``rules_stamp``).

    Kept per process under the rules version (``kept_per_rules_version``; ``RulesVersion`` is given a new
    stamp by any change an admin makes, policies.signals): rules changed after the stamp was read are kept
    under the old stamp and read again at the next request. The policy's latest history row (the version a
    grant records), who holds its tier-2 right (``tier2_rep_ids``) and its routing data (``routing_spec``)
    come with it. Callers must not change the returned object.
    """
    return kept_per_rules_version(("policy", policy_id), lambda: _policy_with_rules(policy_id))


def _policy_with_rules(policy_id: int) -> Policy | None:
    policy = policies_with_rules().filter(pk=policy_id).first()
    if policy is None:
        return None
    policy.latest_history_id = policy.history.order_by("-history_id").values_list("history_id", flat=True).first()
    policy.tier2_rep_ids = _tier2_rep_ids(policy)
    policy.routing_spec = _policy_spec(policy)
    return policy


def _tier2_rep_ids(policy: Policy) -> frozenset[int]:
    """Everyone holding the policy's tier-2 right, directly or as a member of a group that holds it."""
    User = get_user_model()
    rights = RepRight.objects.filter(policy=policy)
    holders = User.objects.filter(Q(pk__in=rights.values("user_id")) | Q(groups__in=rights.values("group_id")))
    return frozenset(holders.values_list("pk", flat=True))


def deciders_at(policy: Policy, level: int) -> frozenset[int]:
    """Who may decide at ``level`` of ``policy`` by the rulebook alone: the active approvers holding a row
    there, directly or through a group (stand-ins are not rulebook data: requests.notifications adds them)."""
    holders: set[int] = set()
    for row in policy.approver_levels.all():
        if row.level == level:
            holders |= _active_holders(row)
    return frozenset(holders)


def policy_spec(policy: Policy) -> PolicySpec:
    """The routing rule's plain data of ``policy`` (built once for a policy read with ``policy_with_rules``)."""
    built = getattr(policy, "routing_spec", None)
    return built if built is not None else _policy_spec(policy)


def _policy_spec(policy: Policy) -> PolicySpec:
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
    """The right is held directly or through one of the user's groups (known already for a policy read
    with ``policy_with_rules``)."""
    holders = getattr(policy, "tier2_rep_ids", None)
    return user.pk in (holders if holders is not None else _tier2_rep_ids(policy))
