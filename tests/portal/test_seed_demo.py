"""seed_demo: the demo users, policies, tiers and approvers, and a second run that writes nothing."""

from __future__ import annotations

import io

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command

from exceptions_portal import roles
from policies.models import ApproverLevel, Control, ExceptionTier, Policy

EXPECTED_GROUPS = {
    "rep1": roles.REPS,
    "rep2": roles.REPS,
    "manager1": roles.APPROVERS,
    "manager2": roles.APPROVERS,
    "director": roles.APPROVERS,
    "admin": roles.POLICY_ADMINS,
}


def seed() -> None:
    call_command("seed_demo", "--i-know-this-is-not-production", stdout=io.StringIO())


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


@pytest.fixture
def seeded(db):
    seed()


def test_seed_creates_demo_users_in_their_groups(seeded):
    users = get_user_model().objects.filter(username__in=EXPECTED_GROUPS)
    groups = {user.username: sorted(user.groups.values_list("name", flat=True)) for user in users}
    assert groups == {username: [group] for username, group in EXPECTED_GROUPS.items()}


def test_seed_admin_is_staff_and_no_one_is_superuser(seeded):
    users = get_user_model().objects.filter(username__in=EXPECTED_GROUPS)
    staff = {user.username: (user.is_staff, user.is_superuser) for user in users}
    assert staff == {username: (username == "admin", False) for username in EXPECTED_GROUPS}


def test_seed_users_can_log_in_with_the_demo_password(seeded, client):
    from policies.management.commands.seed_demo import DEMO_PASSWORD

    assert client.login(username="rep1", password=DEMO_PASSWORD) is True


def test_seed_creates_at_least_six_policies_with_all_three_tiers(seeded):
    policies = list(Policy.objects.all())
    assert len(policies) >= 6
    levels = {policy.name: sorted(set(policy.tiers.values_list("level", flat=True))) for policy in policies}
    assert levels == {policy.name: [1, 2, 3] for policy in policies}


def test_seed_tier_2_has_reward_and_save_on_every_policy(seeded):
    for policy in Policy.objects.all():
        assert sorted(policy.tiers.filter(level=2).values_list("kind", flat=True)) == ["reward", "save"], policy.name


def test_seed_gives_every_policy_approver_levels_1_and_2(seeded):
    levels = {
        policy.name: sorted(set(policy.approver_levels.values_list("level", flat=True)))
        for policy in Policy.objects.all()
    }
    assert levels == {name: [1, 2] for name in levels}
    assert len(levels) >= 6


def test_seed_certified_data_destruction_has_a_control(seeded):
    policy = Policy.objects.get(name="Certified data destruction")
    assert Control.objects.filter(policy=policy).count() >= 1


def test_seed_tiers_are_valid_and_limits_never_decrease(seeded):
    from policies.models import tier_limit_errors

    for policy in Policy.objects.all():
        tiers = list(ExceptionTier.objects.filter(policy=policy))
        for tier in tiers:
            tier.full_clean()
        assert tier_limit_errors(tiers) == [], policy.name


def test_seed_approver_levels_name_the_two_managers_and_the_director(seeded):
    holders = set(ApproverLevel.objects.values_list("user__username", flat=True))
    assert holders == {"manager1", "manager2", "director"}


def test_second_seed_changes_no_row_of_any_model(seeded):
    before = row_counts()

    seed()

    assert row_counts() == before


def test_second_seed_writes_no_history(seeded):
    historical = [model for model in apps.get_models() if model.__name__.startswith("Historical")]
    names = {model.__name__ for model in historical}
    assert {"HistoricalPolicy", "HistoricalExceptionTier", "HistoricalExceptionRequest", "HistoricalControl"} <= names
    before = {model.__name__: model.objects.count() for model in historical}
    assert before["HistoricalPolicy"] >= 6
    assert before["HistoricalExceptionRequest"] >= 1

    seed()

    assert {model.__name__: model.objects.count() for model in historical} == before


def test_seed_gives_every_role_something_to_do(seeded):
    from django.utils import timezone

    from policies.models import ReviewFlag
    from requests.models import Status
    from requests.selectors import my_requests, queue_for

    users = {u.username: u for u in get_user_model().objects.all()}
    now = timezone.now()
    live = [r for r in queue_for(user=users["director"]) if r.status == Status.ESCALATED and r.due_at > now]
    assert live, "the director's queue shows a live escalated request"
    waiting = list(my_requests(user=users["rep1"]))
    assert waiting[0].status == Status.WAITING_FOR_REP
    assert waiting[0].info_requested_by == users["manager2"]
    assert ReviewFlag.objects.filter(resolved_at__isnull=True).exists()


@pytest.mark.django_db
def test_seed_demo_refuses_when_debug_is_off_without_the_flag(settings):
    from django.core.management.base import CommandError

    settings.DEBUG = False
    with pytest.raises(CommandError, match="--i-know-this-is-not-production"):
        call_command("seed_demo", stdout=io.StringIO())
    assert not get_user_model().objects.filter(username="admin").exists()


@pytest.mark.django_db
def test_seed_demo_runs_when_debug_is_on(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    assert get_user_model().objects.filter(username="admin", is_staff=True).exists()


def test_seed_sends_every_decided_demo_message_through_the_service(seeded):
    """The past's history shows each customer message sent, by its rep, after the decision."""
    from requests.models import DECIDED_STATUSES, ExceptionRequest

    decided = ExceptionRequest.objects.filter(status__in=DECIDED_STATUSES, customer__external_ref__startswith="DEMO-H")
    assert decided.count() >= 10
    for request in decided:
        assert request.message_sent_at is not None, request.reference
        last = request.history.order_by("-history_id").first()
        assert (last.history_change_reason, last.history_user_id) == ("Customer message sent", request.rep_id)


def test_seed_rulebook_history_names_the_policy_admin_and_the_reason(seeded):
    for policy in Policy.objects.all():
        created = policy.history.earliest("history_date")
        assert (created.history_user.username, created.history_change_reason) == ("admin", "Demo data (seed_demo)")
