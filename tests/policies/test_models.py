"""Model invariants: what clean() refuses, what the database refuses, and the tier-limit rule."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from exceptions_portal import roles
from policies.models import (
    ApproverLevel,
    BusinessCalendar,
    ExceptionTier,
    Policy,
    RepRight,
    tier_limit_errors,
)
from requests.models import Delegation
from tests.conftest import make_user

ALL_SENTIMENTS = ["amazed", "happy", "neutral", "unhappy", "deeply_unhappy"]


def tier(
    level: int, kind: str = "", *, cap: str = "100.00", days: int = 5, supplier: int = 0, **extra
) -> ExceptionTier:
    """An unsaved tier: clean() and tier_limit_errors() work on unsaved tiers."""
    fields = {
        "level": level,
        "kind": kind,
        "description": f"tier {level} {kind}",
        "sentiments": ["unhappy"],
        "money_cap": Decimal(cap),
        "max_business_days": days,
        "supplier_exceptions_allowed": supplier,
    }
    fields.update(extra)
    return ExceptionTier(**fields)


def clean_errors(instance) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as excinfo:
        instance.clean()
    return excinfo.value.message_dict


# ExceptionTier.clean()


@pytest.mark.parametrize(("level", "kind"), [(1, ""), (2, "reward"), (2, "save"), (3, "")])
def test_tier_clean_accepts_kind_only_on_tier_2(level, kind):
    assert tier(level, kind, sentiments=ALL_SENTIMENTS).clean() is None


def test_tier_2_without_kind_is_refused():
    assert clean_errors(tier(2, "")) == {"kind": ["A tier-2 exception is either a reward or a save."]}


@pytest.mark.parametrize(("level", "kind"), [(1, "reward"), (3, "save")])
def test_tier_1_or_3_with_a_kind_is_refused(level, kind):
    assert clean_errors(tier(level, kind)) == {"kind": ["Only tier 2 has a kind (reward or save)."]}


def test_tier_with_unknown_sentiment_is_refused():
    errors = clean_errors(tier(1, sentiments=["happy", "furious"]))
    assert errors == {"sentiments": ["Unknown sentiment(s): furious."]}


def test_tier_with_no_sentiment_is_refused():
    errors = clean_errors(tier(1, sentiments=[]))
    assert errors == {"sentiments": ["Pick at least one customer sentiment this tier is meant for."]}


def test_tier_with_sentiments_not_a_list_is_refused():
    errors = clean_errors(tier(1, sentiments={"happy": True}))
    assert list(errors) == ["sentiments"]
    assert errors["sentiments"][0].startswith("Sentiments must be a list")


def test_tier_with_a_number_for_sentiments_is_refused():
    errors = clean_errors(tier(1, sentiments=5))
    assert errors["sentiments"][0].startswith("Sentiments must be a list")


def test_tier_reports_kind_and_sentiment_errors_together():
    errors = clean_errors(tier(2, "", sentiments=[]))
    assert sorted(errors) == ["kind", "sentiments"]


# Database constraints on tiers


def test_duplicate_tier_level_and_kind_is_refused_by_the_database(policy):
    with pytest.raises(IntegrityError), transaction.atomic():
        tier(2, "save", policy=policy).save()
    assert policy.tiers.filter(level=2, kind="save").count() == 1


def test_same_level_with_another_kind_is_accepted(policy):
    policy.tiers.filter(level=2, kind="save").delete()
    tier(2, "save", policy=policy).save()
    assert sorted(policy.tiers.values_list("level", "kind")) == [(1, ""), (2, "reward"), (2, "save"), (3, "")]


def test_negative_money_cap_is_refused_by_the_database(policy):
    policy.tiers.filter(level=3).delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        tier(3, cap="-0.01", policy=policy).save()
    assert not policy.tiers.filter(level=3).exists()


def test_kind_on_level_1_is_refused_by_the_database(policy):
    policy.tiers.filter(level=1).delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        tier(1, "reward", policy=policy).save()
    assert not policy.tiers.filter(level=1).exists()


def test_level_2_without_kind_is_refused_by_the_database(policy):
    with pytest.raises(IntegrityError), transaction.atomic():
        tier(2, "", policy=policy).save()
    assert policy.tiers.filter(level=2).count() == 2


def test_level_4_is_refused_by_the_database(policy):
    with pytest.raises(IntegrityError), transaction.atomic():
        tier(4, policy=policy).save()
    assert not policy.tiers.filter(level=4).exists()


# Rep rights and approver levels: a user or a group, never both, never neither


def test_rep_right_with_user_and_group_is_refused_by_the_database(policy, rep):
    with pytest.raises(IntegrityError), transaction.atomic():
        RepRight.objects.create(policy=policy, user=rep, group=Group.objects.get(name=roles.REPS))
    assert RepRight.objects.filter(policy=policy).count() == 0


def test_rep_right_with_neither_user_nor_group_is_refused_by_the_database(policy):
    with pytest.raises(IntegrityError), transaction.atomic():
        RepRight.objects.create(policy=policy)
    assert RepRight.objects.filter(policy=policy).count() == 0


def test_rep_right_for_a_user_or_a_group_is_accepted(policy, rep):
    RepRight.objects.create(policy=policy, user=rep)
    RepRight.objects.create(policy=policy, group=Group.objects.get(name=roles.REPS))
    assert RepRight.objects.filter(policy=policy).count() == 2


def test_duplicate_rep_right_for_a_user_is_refused_by_the_database(policy, rep):
    RepRight.objects.create(policy=policy, user=rep)
    with pytest.raises(IntegrityError), transaction.atomic():
        RepRight.objects.create(policy=policy, user=rep)
    assert RepRight.objects.filter(policy=policy, user=rep).count() == 1


def test_rep_right_clean_refuses_both_and_neither(policy, rep):
    group = Group.objects.get(name=roles.REPS)
    for right in (RepRight(policy=policy, user=rep, group=group), RepRight(policy=policy)):
        with pytest.raises(ValidationError) as excinfo:
            right.clean()
        assert excinfo.value.messages == ["Choose either a user or a group, not both."]
    assert RepRight(policy=policy, user=rep).clean() is None


def test_approver_level_with_user_and_group_is_refused_by_the_database(policy, rep):
    with pytest.raises(IntegrityError), transaction.atomic():
        ApproverLevel.objects.create(
            policy=policy,
            level=3,
            user=rep,
            group=Group.objects.get(name=roles.APPROVERS),
            money_authority=Decimal("100"),
        )
    assert not ApproverLevel.objects.filter(policy=policy, level=3).exists()


def test_approver_level_with_neither_user_nor_group_is_refused_by_the_database(policy):
    with pytest.raises(IntegrityError), transaction.atomic():
        ApproverLevel.objects.create(policy=policy, level=3, money_authority=Decimal("100"))
    assert not ApproverLevel.objects.filter(policy=policy, level=3).exists()


def test_same_approver_twice_at_one_level_is_refused_by_the_database(policy, manager_low):
    with pytest.raises(IntegrityError), transaction.atomic():
        ApproverLevel.objects.create(policy=policy, level=1, user=manager_low, money_authority=Decimal("999"))
    assert ApproverLevel.objects.filter(policy=policy, level=1, user=manager_low).count() == 1


def test_same_approver_at_another_level_is_accepted(policy, manager_low):
    ApproverLevel.objects.create(policy=policy, level=2, user=manager_low, money_authority=Decimal("999"))
    assert sorted(ApproverLevel.objects.filter(policy=policy, user=manager_low).values_list("level", flat=True)) == [
        1,
        2,
    ]


def test_same_group_twice_at_one_level_is_refused_by_the_database(policy):
    approvers = Group.objects.get(name=roles.APPROVERS)
    ApproverLevel.objects.create(policy=policy, level=3, group=approvers, money_authority=Decimal("100"))
    with pytest.raises(IntegrityError), transaction.atomic():
        ApproverLevel.objects.create(policy=policy, level=3, group=approvers, money_authority=Decimal("200"))
    assert ApproverLevel.objects.filter(policy=policy, level=3).count() == 1


def test_negative_money_authority_is_refused_by_the_database(policy, rep):
    with pytest.raises(IntegrityError), transaction.atomic():
        ApproverLevel.objects.create(policy=policy, level=3, user=rep, money_authority=Decimal("-1"))
    assert not ApproverLevel.objects.filter(policy=policy, level=3).exists()


def test_approver_level_clean_refuses_both_and_neither(policy, rep):
    group = Group.objects.get(name=roles.APPROVERS)
    for approver in (
        ApproverLevel(policy=policy, level=1, user=rep, group=group, money_authority=Decimal("1")),
        ApproverLevel(policy=policy, level=1, money_authority=Decimal("1")),
    ):
        with pytest.raises(ValidationError) as excinfo:
            approver.clean()
        assert excinfo.value.messages == ["Choose either a user or a group, not both."]


def test_zero_sla_is_refused_by_the_database(policy):
    with pytest.raises(IntegrityError), transaction.atomic():
        Policy.objects.filter(pk=policy.pk).update(sla_minutes=0)
    policy.refresh_from_db()
    assert policy.sla_minutes == 120


# tier_limit_errors: limits may not decrease from tier 1 to tier 3


def test_increasing_limits_are_fine():
    tiers = [
        tier(1, cap="50.00", days=5, supplier=0),
        tier(2, "reward", cap="250.00", days=15, supplier=0),
        tier(2, "save", cap="300.00", days=20, supplier=1),
        tier(3, cap="1500.00", days=60, supplier=2),
    ]
    assert tier_limit_errors(tiers) == []


def test_equal_limits_are_fine():
    tiers = [tier(level, kind, cap="100.00", days=5, supplier=1) for level, kind in [(1, ""), (2, "save"), (3, "")]]
    assert tier_limit_errors(tiers) == []


def test_tier_order_in_the_list_does_not_matter():
    tiers = [tier(3, cap="1500.00"), tier(1, cap="50.00"), tier(2, "save", cap="250.00")]
    assert tier_limit_errors(tiers) == []


def test_money_cap_decreasing_from_tier_1_to_tier_3_is_reported():
    errors = tier_limit_errors([tier(1, cap="100.00"), tier(3, cap="40.00")])
    assert errors == [
        "Tier 3's money cap (40.00) is below Tier 1's (100.00): limits may not decrease from tier 1 to tier 3."
    ]


def test_business_days_decreasing_from_tier_1_to_tier_3_is_reported():
    errors = tier_limit_errors([tier(1, days=10), tier(3, days=9)])
    assert errors == [
        "Tier 3's business days (9) is below Tier 1's (10): limits may not decrease from tier 1 to tier 3."
    ]


def test_supplier_exceptions_decreasing_from_tier_1_to_tier_3_is_reported():
    errors = tier_limit_errors([tier(1, supplier=2), tier(3, supplier=1)])
    assert errors == [
        "Tier 3's supplier exceptions (1) is below Tier 1's (2): limits may not decrease from tier 1 to tier 3."
    ]


def test_tier_2_below_tier_1_is_reported_with_its_kind():
    errors = tier_limit_errors([tier(1, cap="100.00"), tier(2, "save", cap="99.99"), tier(3, cap="500.00")])
    assert errors == [
        "Tier 2 (save)'s money cap (99.99) is below Tier 1's (100.00): limits may not decrease from tier 1 to tier 3."
    ]


def test_tier_3_below_tier_2_is_reported():
    errors = tier_limit_errors([tier(1, days=1), tier(2, "reward", days=10), tier(3, days=5)])
    assert errors == [
        "Tier 3's business days (5) is below Tier 2 (reward)'s (10): limits may not decrease from tier 1 to tier 3."
    ]


def test_tier_2_kinds_are_not_compared_with_each_other():
    tiers = [tier(2, "reward", cap="500.00"), tier(2, "save", cap="10.00")]
    assert tier_limit_errors(tiers) == []


# BusinessCalendar.clean()


def calendar(**overrides) -> BusinessCalendar:
    fields = {
        "name": "UK office hours",
        "time_zone": "Europe/London",
        "working_days": [1, 2, 3, 4, 5],
        "opens_at": time(9, 0),
        "closes_at": time(17, 0),
    }
    fields.update(overrides)
    return BusinessCalendar(**fields)


def test_calendar_with_valid_hours_is_clean():
    assert calendar().clean() is None


def test_calendar_with_unknown_time_zone_is_refused():
    errors = clean_errors(calendar(time_zone="Mars/Olympus_Mons"))
    assert errors == {"time_zone": ["Unknown time zone 'Mars/Olympus_Mons' (use e.g. Europe/London)."]}


def test_calendar_with_malformed_time_zone_is_refused():
    assert list(clean_errors(calendar(time_zone="../etc/passwd"))) == ["time_zone"]


def test_calendar_without_working_days_is_refused():
    assert clean_errors(calendar(working_days=[])) == {"working_days": ["Pick at least one working day."]}


@pytest.mark.parametrize("days", [[0], [8], [1, 9], "12345"])
def test_calendar_with_out_of_range_working_days_is_refused(days):
    assert clean_errors(calendar(working_days=days)) == {"working_days": ["Pick at least one working day."]}


@pytest.mark.parametrize(("opens", "closes"), [(time(17, 0), time(9, 0)), (time(9, 0), time(9, 0))])
def test_calendar_closing_before_or_at_opening_is_refused(opens, closes):
    errors = clean_errors(calendar(opens_at=opens, closes_at=closes))
    assert errors == {"closes_at": ["Closing time must be after opening time."]}


@pytest.mark.django_db
def test_calendar_full_clean_compares_hours_given_as_text():
    cal = calendar(opens_at="18:00", closes_at="08:30")
    with pytest.raises(ValidationError) as excinfo:
        cal.full_clean()
    assert excinfo.value.message_dict == {"closes_at": ["Closing time must be after opening time."]}


# Delegation constraints


def test_self_delegation_is_refused_by_the_database(manager_low):
    with pytest.raises(IntegrityError), transaction.atomic():
        Delegation.objects.create(
            approver=manager_low, delegate=manager_low, starts_on=date(2026, 3, 2), ends_on=date(2026, 3, 6)
        )
    assert Delegation.objects.count() == 0


def test_delegation_ending_before_it_starts_is_refused_by_the_database(manager_low, manager_high):
    with pytest.raises(IntegrityError), transaction.atomic():
        Delegation.objects.create(
            approver=manager_low, delegate=manager_high, starts_on=date(2026, 3, 6), ends_on=date(2026, 3, 5)
        )
    assert Delegation.objects.count() == 0


def test_one_day_delegation_to_someone_else_is_accepted(db):
    approver = make_user("approver_on_leave", roles.APPROVERS)
    delegate = make_user("stand_in", roles.APPROVERS)
    Delegation.objects.create(
        approver=approver, delegate=delegate, starts_on=date(2026, 3, 2), ends_on=date(2026, 3, 2)
    )
    assert list(Delegation.objects.values_list("approver__username", "delegate__username")) == [
        ("approver_on_leave", "stand_in")
    ]
