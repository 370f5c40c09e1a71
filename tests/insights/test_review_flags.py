"""Flagging policies for review ("a request that comes twice says the policy is broken"),
resolving the flag, the nightly sweep, the weekly digest and the resolve view."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse

from exceptions_portal import celery as portal_celery
from exceptions_portal.celery import task_named
from policies.insights.digest import weekly_digest_send
from policies.insights.review import (
    FlagAlreadyResolved,
    FlagNotFound,
    InvalidReview,
    PolicyError,
    policy_review_check,
    policy_review_resolve,
    review_sweep,
)
from policies.insights.tasks import check_policy_review, nightly_review_sweep, weekly_digest
from policies.models import Policy, ReviewFlag
from requests.escalation import sla_sweep
from requests.models import ExceptionRequest, Notification, Status
from requests.services import _common as services_common
from requests.services import exception_request_decide, exception_request_file
from tests.conftest import facts, make_policy, make_user
from tests.support import at

T0 = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)


def day(n: int, hour: int = 10) -> datetime:
    return T0 + timedelta(days=n, hours=hour - 10)


def grant(rep, policy: Policy, ref: str, when: datetime, cause: str = "our_mistake") -> ExceptionRequest:
    """A tier-1 request of 20.00 for a new customer: granted at once by the rep."""
    request = exception_request_file(rep=rep, facts=facts(policy, customer_ref=ref, cause=cause), now=when)
    assert request.status == Status.GRANTED
    return request


def flag_notifications(user) -> list[str]:
    return list(
        Notification.objects.filter(user=user, kind=Notification.Kind.REVIEW_FLAG).values_list("text", flat=True)
    )


def change_reasons(policy: Policy) -> list[str | None]:
    return list(policy.history.order_by("history_id").values_list("history_change_reason", flat=True))


def open_flag(policy: Policy, behind: list[ExceptionRequest], raised_at: datetime) -> ReviewFlag:
    """A flag written as policy_review_check writes it, so that what comes after it (resolving, the digest,
    the view) is tested on its own."""
    reason = (
        f"2 exceptions with the cause “our mistake” within 90 days ({', '.join(r.reference for r in behind)}): "
        "a request that comes twice says the policy is broken."
    )
    flag = ReviewFlag.objects.create(
        policy=policy, cause="our_mistake", reason=reason, request_ids=[r.pk for r in behind], raised_at=raised_at
    )
    Policy.objects.filter(pk=policy.pk).update(needs_review=True, review_reason=reason)
    return flag


@pytest.fixture
def flagged(rep, policy) -> ReviewFlag:
    return open_flag(policy, [grant(rep, policy, "C-1", day(0)), grant(rep, policy, "C-2", day(1))], day(1, 12))


@pytest.fixture
def raised(rep, policy) -> ReviewFlag:
    """A flag raised by the check itself."""
    grant(rep, policy, "C-1", day(0))
    grant(rep, policy, "C-2", day(1))
    outcome = policy_review_check(policy_id=policy.pk, now=day(1, 12))
    assert outcome.raised
    return outcome.flag


# The check ---------------------------------------------------------------------------------------


def test_one_granted_exception_does_not_flag(rep, policy, admin_user):
    grant(rep, policy, "C-1", day(0))
    outcome = policy_review_check(policy_id=policy.pk, now=day(0, 12))
    assert (outcome.flag, outcome.raised) == (None, False)
    policy.refresh_from_db()
    assert (policy.needs_review, policy.review_reason) == (False, "")
    assert ReviewFlag.objects.count() == 0
    assert flag_notifications(admin_user) == []


def test_second_granted_exception_with_the_same_cause_flags_the_policy(rep, policy, admin_user):
    first = grant(rep, policy, "C-1", day(0))
    second = grant(rep, policy, "C-2", day(30))
    outcome = policy_review_check(policy_id=policy.pk, now=day(30, 12))
    assert outcome.raised is True
    flag = ReviewFlag.objects.get()
    assert outcome.flag == flag
    reason = (
        f"2 exceptions with the cause “our mistake” within 90 days ({first.reference}, {second.reference}): "
        "a request that comes twice says the policy is broken."
    )
    assert (flag.policy, flag.cause, flag.reason, flag.request_ids) == (
        policy,
        "our_mistake",
        reason,
        [first.pk, second.pk],
    )
    assert (flag.raised_at, flag.owner_notified_at, flag.resolved_at) == (day(30, 12), day(30, 12), None)
    policy.refresh_from_db()
    assert (policy.needs_review, policy.review_reason) == (True, reason)
    assert change_reasons(policy) == [None, "Flagged for review"]
    assert policy.history.latest().history_user.username == "system"
    assert flag_notifications(admin_user) == [f"“Return window” was flagged for review: {reason}"]


def test_two_different_causes_do_not_flag(rep, policy):
    grant(rep, policy, "C-1", day(0), cause="our_mistake")
    grant(rep, policy, "C-2", day(1), cause="loyalty")
    assert policy_review_check(policy_id=policy.pk, now=day(1, 12)).raised is False
    assert ReviewFlag.objects.count() == 0


def test_exceptions_under_another_policy_do_not_count(rep, policy, problem_type):
    other = make_policy(problem_type, name="Exchange window")
    grant(rep, policy, "C-1", day(0))
    grant(rep, other, "C-2", day(1))
    assert policy_review_check(policy_id=policy.pk, now=day(1, 12)).raised is False
    assert policy_review_check(policy_id=other.pk, now=day(1, 12)).raised is False
    assert ReviewFlag.objects.count() == 0


def test_first_exception_older_than_the_window_does_not_count(rep, policy):
    grant(rep, policy, "C-1", day(0))
    grant(rep, policy, "C-2", day(91))
    assert policy_review_check(policy_id=policy.pk, now=day(91, 12)).raised is False
    assert ReviewFlag.objects.count() == 0


def test_first_exception_inside_the_window_counts(rep, policy):
    grant(rep, policy, "C-1", day(0))
    grant(rep, policy, "C-2", day(89))
    assert policy_review_check(policy_id=policy.pk, now=day(89, 12)).raised is True


def test_the_window_is_configurable_per_policy(rep, policy):
    Policy.objects.filter(pk=policy.pk).update(review_window_days=7)
    grant(rep, policy, "C-1", day(0))
    grant(rep, policy, "C-2", day(8))
    assert policy_review_check(policy_id=policy.pk, now=day(8, 12)).raised is False
    grant(rep, policy, "C-3", day(9))
    assert policy_review_check(policy_id=policy.pk, now=day(9, 12)).raised is True


def test_approved_exceptions_count_and_denied_ones_do_not(rep, policy, manager_high):
    grant(rep, policy, "C-1", day(0))
    denied = exception_request_file(rep=rep, facts=facts(policy, customer_ref="C-2", amount=Decimal("300")), now=day(1))
    exception_request_decide(
        request_id=denied.pk, approver=manager_high, approve=False, note="No", alternative="Credit", now=day(1, 11)
    )
    assert policy_review_check(policy_id=policy.pk, now=day(1, 12)).raised is False
    approved = exception_request_file(
        rep=rep, facts=facts(policy, customer_ref="C-3", amount=Decimal("300")), now=day(2)
    )
    exception_request_decide(request_id=approved.pk, approver=manager_high, approve=True, note="Ok", now=day(2, 11))
    outcome = policy_review_check(policy_id=policy.pk, now=day(2, 12))
    assert outcome.raised is True
    assert outcome.flag.request_ids[1] == approved.pk
    assert denied.pk not in outcome.flag.request_ids


def test_a_still_pending_request_does_not_count(rep, policy):
    grant(rep, policy, "C-1", day(0))
    exception_request_file(rep=rep, facts=facts(policy, customer_ref="C-2", amount=Decimal("300")), now=day(1))
    assert policy_review_check(policy_id=policy.pk, now=day(1, 12)).raised is False


def test_the_check_is_idempotent(raised, policy, admin_user):
    again = policy_review_check(policy_id=policy.pk, now=day(1, 13))
    assert (again.flag, again.raised) == (raised, False)
    assert ReviewFlag.objects.count() == 1
    assert len(flag_notifications(admin_user)) == 1
    assert change_reasons(policy) == [None, "Flagged for review"]


def test_a_third_exception_while_flagged_raises_nothing_new(raised, rep, policy, admin_user):
    grant(rep, policy, "C-3", day(2))
    outcome = policy_review_check(policy_id=policy.pk, now=day(2, 12))
    assert (outcome.flag, outcome.raised) == (raised, False)
    assert ReviewFlag.objects.get().request_ids == raised.request_ids
    assert len(flag_notifications(admin_user)) == 1


def test_review_threshold_of_three_needs_three(rep, policy):
    Policy.objects.filter(pk=policy.pk).update(review_threshold=3)
    behind = [grant(rep, policy, "C-1", day(0)), grant(rep, policy, "C-2", day(1))]
    assert policy_review_check(policy_id=policy.pk, now=day(1, 12)).raised is False
    behind.append(grant(rep, policy, "C-3", day(2)))
    outcome = policy_review_check(policy_id=policy.pk, now=day(2, 12))
    assert outcome.raised is True
    assert outcome.flag.request_ids == [r.pk for r in behind]
    assert outcome.flag.reason.startswith("3 exceptions with the cause “our mistake” within 90 days (")


def test_exceptions_decided_after_the_check_time_do_not_count(rep, policy):
    grant(rep, policy, "C-1", day(0))
    grant(rep, policy, "C-2", day(2))
    assert policy_review_check(policy_id=policy.pk, now=day(1)).raised is False


def test_the_task_runs_the_check(rep, policy):
    with time_machine.travel(day(1, 12), tick=False):
        grant(rep, policy, "C-1", day(0))
        assert check_policy_review.delay(policy.pk).get() is False
        grant(rep, policy, "C-2", day(1))
        assert check_policy_review.delay(policy.pk).get() is True
        assert check_policy_review.delay(policy.pk).get() is False
    assert ReviewFlag.objects.count() == 1


# Enqueued on commit ------------------------------------------------------------------------------


def test_filing_two_granted_requests_flags_the_policy_on_commit(
    rep, policy, admin_user, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        exception_request_file(rep=rep, facts=facts(policy, customer_ref="C-1"))
    assert len(callbacks) == 1
    assert ReviewFlag.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        exception_request_file(rep=rep, facts=facts(policy, customer_ref="C-2"))
    flag = ReviewFlag.objects.get()
    assert flag.policy == policy
    policy.refresh_from_db()
    assert policy.needs_review is True
    assert len(flag_notifications(admin_user)) == 1
    assert [(m.to, m.subject) for m in mailoutbox] == [
        ([admin_user.email], "[Exceptions portal] Policy flagged for review")
    ]


def test_an_approval_enqueues_the_check_on_commit(rep, policy, manager_high, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        exception_request_file(rep=rep, facts=facts(policy, customer_ref="C-1"))
    pending = exception_request_file(rep=rep, facts=facts(policy, customer_ref="C-2", amount=Decimal("300")))
    assert ReviewFlag.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        exception_request_decide(request_id=pending.pk, approver=manager_high, approve=True, note="Ok")
    assert ReviewFlag.objects.get().request_ids[1] == pending.pk


def test_only_grants_and_approvals_enqueue_the_check(
    rep, policy, manager_high, django_capture_on_commit_callbacks, monkeypatch
):
    enqueued: list[int] = []
    monkeypatch.setattr(check_policy_review, "delay", enqueued.append)
    with django_capture_on_commit_callbacks(execute=True):
        denied = exception_request_file(rep=rep, facts=facts(policy, customer_ref="C-1", amount=Decimal("300")))
        exception_request_decide(
            request_id=denied.pk, approver=manager_high, approve=False, note="No", alternative="Credit"
        )
    assert enqueued == []
    with django_capture_on_commit_callbacks(execute=True):
        approved = exception_request_file(rep=rep, facts=facts(policy, customer_ref="C-2", amount=Decimal("300")))
    assert enqueued == []
    with django_capture_on_commit_callbacks(execute=True):
        exception_request_decide(request_id=approved.pk, approver=manager_high, approve=True, note="Ok")
    assert enqueued == [policy.pk]
    with django_capture_on_commit_callbacks(execute=True):
        grant(rep, policy, "C-3", day(0))
    assert enqueued == [policy.pk, policy.pk]


def test_a_burst_of_grants_queues_one_check_that_runs_after_them(
    rep, policy, django_capture_on_commit_callbacks, monkeypatch
):
    """With a real queue (not eager), grants committed while a queued check is still to run join it: it runs
    after them and counts them all. Once it may have run, the next grant queues another."""
    task = task_named("policies.tasks.check_policy_review")
    monkeypatch.setitem(task.app.conf, "task_always_eager", False)
    monkeypatch.setattr(portal_celery, "_coalesced_runs_at", {})
    queued: list[tuple[tuple, float]] = []
    monkeypatch.setattr(task, "apply_async", lambda args, countdown: queued.append((args, countdown)))
    delay = services_common.REVIEW_CHECK_DELAY

    def grant_now(ref: str) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            grant(rep, policy, ref, day(0))

    with time_machine.travel(day(0), tick=False) as clock:
        grant_now("B-1")
        grant_now("B-2")
        clock.shift(delay - portal_celery.COALESCE_CLOCK_MARGIN - 0.05)
        grant_now("B-3")  # the queued check still runs after this commit, even by a clock a little ahead
        assert queued == [((policy.pk,), delay)]
        clock.shift(0.1)
        grant_now("B-4")  # it may have run already: a check of its own
        assert queued == [((policy.pk,), delay)] * 2
        # Another policy's grants do not join this policy's check.
        other = make_policy(policy.problem_type, name="Other window")
        with django_capture_on_commit_callbacks(execute=True):
            grant(rep, other, "O-1", day(0))
        assert queued == [((policy.pk,), delay), ((policy.pk,), delay), ((other.pk,), delay)]


# Resolving ---------------------------------------------------------------------------------------


def test_resolving_kept_as_is_clears_the_policy_and_keeps_history(raised, rep, policy, admin_user):
    with time_machine.travel(day(5), tick=False):
        resolved = policy_review_resolve(
            flag_id=raised.pk, admin=admin_user, resolution="kept", note="  The window is right.  "
        )
    assert resolved.pk == raised.pk
    raised.refresh_from_db()
    assert (raised.resolved_at, raised.resolved_by, raised.resolution, raised.resolution_note) == (
        day(5),
        admin_user,
        "kept",
        "The window is right.",
    )
    policy.refresh_from_db()
    assert (policy.needs_review, policy.review_reason) == (False, "")
    assert change_reasons(policy) == [None, "Flagged for review", "Reviewed: kept as is. The window is right."]
    assert policy.history.order_by("-history_id").first().history_user == admin_user
    assert raised.history.order_by("-history_id").first().history_user == admin_user

    # The very requests that were reviewed do not flag it again.
    assert policy_review_check(policy_id=policy.pk, now=day(5, 12)).raised is False
    # One new exception with the old ones is not a pattern yet.
    grant(rep, policy, "C-3", day(6))
    assert policy_review_check(policy_id=policy.pk, now=day(6, 12)).raised is False
    # Two new ones are.
    fourth = grant(rep, policy, "C-4", day(7))
    outcome = policy_review_check(policy_id=policy.pk, now=day(7, 12))
    assert outcome.raised is True
    assert outcome.flag.request_ids == [ExceptionRequest.objects.get(customer__external_ref="C-3").pk, fourth.pk]
    assert ReviewFlag.objects.filter(resolved_at__isnull=True).count() == 1
    assert ReviewFlag.objects.count() == 2
    assert len(flag_notifications(admin_user)) == 2


@pytest.mark.parametrize(
    ("resolution", "label"),
    [("changed_policy", "changed the policy"), ("changed_tiers", "changed the tiers")],
)
def test_each_resolution_is_recorded(flagged, policy, admin_user, resolution, label):
    policy_review_resolve(flag_id=flagged.pk, admin=admin_user, resolution=resolution, note="Done")
    assert change_reasons(policy)[-1] == f"Reviewed: {label}. Done"
    flagged.refresh_from_db()
    assert flagged.resolution == resolution


def test_resolve_refuses_an_already_resolved_flag(flagged, policy, admin_user):
    with time_machine.travel(day(5), tick=False):
        policy_review_resolve(flag_id=flagged.pk, admin=admin_user, resolution="kept", note="First")
    with pytest.raises(FlagAlreadyResolved, match=r"^This flag was already resolved on 06 Sep 2026\.$"):
        policy_review_resolve(flag_id=flagged.pk, admin=admin_user, resolution="changed_policy", note="Second")
    flagged.refresh_from_db()
    assert (flagged.resolved_at, flagged.resolution, flagged.resolution_note) == (day(5), "kept", "First")
    assert change_reasons(policy) == [None, "Reviewed: kept as is. First"]


@pytest.mark.parametrize(
    ("resolution", "note", "message"),
    [
        ("deleted", "A note", "Choose what the review changed: the policy, the tiers, or nothing."),
        ("", "A note", "Choose what the review changed: the policy, the tiers, or nothing."),
        ("kept", "", "Write a short note on what was reviewed."),
        ("kept", "   \n ", "Write a short note on what was reviewed."),
    ],
)
def test_resolve_refuses_bad_input_and_changes_nothing(flagged, policy, admin_user, resolution, note, message):
    with pytest.raises(InvalidReview) as error:
        policy_review_resolve(flag_id=flagged.pk, admin=admin_user, resolution=resolution, note=note)
    assert str(error.value) == message
    flagged.refresh_from_db()
    assert (flagged.resolved_at, flagged.resolved_by, flagged.resolution, flagged.resolution_note) == (
        None,
        None,
        "",
        "",
    )
    policy.refresh_from_db()
    assert policy.needs_review is True
    assert change_reasons(policy) == [None]


def test_every_review_refusal_is_a_policy_error():
    # The admin page catches PolicyError and shows the message (policies/views.py).
    assert all(issubclass(kind, PolicyError) for kind in (InvalidReview, FlagNotFound, FlagAlreadyResolved))


def test_resolve_refuses_an_unknown_flag(db, admin_user):
    with pytest.raises(FlagNotFound):
        policy_review_resolve(flag_id=999999, admin=admin_user, resolution="kept", note="Note")


# The nightly sweep -------------------------------------------------------------------------------


@pytest.fixture
def four_policies(rep, policy, problem_type, admin_user) -> dict[str, Policy]:
    """Return and Exchange windows qualify, Gift cards would but is inactive, Price match had one exception."""
    named = {
        "Return window": policy,
        "Exchange window": make_policy(problem_type, name="Exchange window", owner=admin_user),
        "Gift cards": make_policy(problem_type, name="Gift cards", owner=admin_user),
        "Price match": make_policy(problem_type, name="Price match", owner=admin_user),
    }
    for name in ("Return window", "Exchange window", "Gift cards"):
        grant(rep, named[name], f"{name}-1", day(0), cause="loyalty")
        grant(rep, named[name], f"{name}-2", day(3), cause="loyalty")
    grant(rep, named["Price match"], "PM-1", day(3), cause="loyalty")
    Policy.objects.filter(name="Gift cards").update(active=False)
    return named


def test_review_sweep_flags_every_active_policy_that_qualifies(four_policies, admin_user):
    assert review_sweep(now=day(3, 12)) == 2
    assert sorted(ReviewFlag.objects.values_list("policy__name", "cause")) == [
        ("Exchange window", "loyalty"),
        ("Return window", "loyalty"),
    ]
    assert sorted(Policy.objects.filter(needs_review=True).values_list("name", flat=True)) == [
        "Exchange window",
        "Return window",
    ]
    assert len(flag_notifications(admin_user)) == 2


def test_review_sweep_is_safe_to_run_twice(four_policies, admin_user):
    assert review_sweep(now=day(3, 12)) == 2
    assert review_sweep(now=day(3, 12)) == 0
    assert review_sweep(now=day(4)) == 0
    assert ReviewFlag.objects.count() == 2
    assert len(flag_notifications(admin_user)) == 2


def test_nightly_task_runs_the_sweep(four_policies):
    with time_machine.travel(day(3, 23), tick=False):
        assert nightly_review_sweep.delay().get() == 2
        assert nightly_review_sweep.delay().get() == 0
    assert ReviewFlag.objects.count() == 2


# The weekly digest -------------------------------------------------------------------------------

MONDAY = date(2026, 11, 23)


@pytest.fixture
def digest_week(rep, policy, problem_type, admin_user, manager_high) -> ReviewFlag:
    """Under Return window from Monday 16 to Sunday 22 November: two grants (flagged), one approval,
    one pending request escalated after a breach; one grant before and one after the week."""
    make_policy(problem_type, name="Exchange window", owner=admin_user)
    make_policy(problem_type, name="Gift cards", owner=make_user("owner2"))
    make_policy(problem_type, name="Unowned")
    grant(rep, policy, "D-0", at(15, 23), cause="extra_value")
    flag = open_flag(policy, [grant(rep, policy, "D-1", at(17, 10)), grant(rep, policy, "D-2", at(18, 10))], at(18, 12))
    approved = exception_request_file(
        rep=rep, facts=facts(policy, customer_ref="D-3", cause="loyalty", amount=Decimal("300")), now=at(19, 10)
    )
    exception_request_decide(request_id=approved.pk, approver=manager_high, approve=True, note="Ok", now=at(19, 10, 30))
    exception_request_file(
        rep=rep,
        facts=facts(policy, customer_ref="D-4", cause="beyond_control", amount=Decimal("300")),
        now=at(20, 10),
    )
    assert len(sla_sweep(now=at(20, 12)).escalated) == 1
    grant(rep, policy, "D-5", at(23, 8), cause="extra_value")
    return flag


def test_weekly_digest_emails_each_owner_once(digest_week, admin_user, mailoutbox):
    assert weekly_digest_send(today=MONDAY) == 2
    assert sorted(m.to[0] for m in mailoutbox) == ["owner2@example.com", admin_user.email]
    to_admin = next(m for m in mailoutbox if m.to == [admin_user.email])
    assert to_admin.subject == "[Exceptions portal] Your policies, week of 23 Nov 2026"
    analysis_url = settings.PORTAL_BASE_URL.rstrip("/") + reverse("policies:analysis")
    assert to_admin.body == "\n".join(
        [
            "Exceptions filed under your policies from 16 Nov to 22 Nov 2026:",
            "",
            "- Exchange window: no exceptions.",
            "- Return window: 4 filed, 2 granted by reps, 1 approved, 0 denied, 1 pending, 1 SLA breach(es).",
            "",
            "Flagged for review:",
            f"- Return window: {digest_week.reason}",
            "",
            f"Analysis: {analysis_url}",
        ]
    )
    to_owner2 = next(m for m in mailoutbox if m.to == ["owner2@example.com"])
    assert to_owner2.body == "\n".join(
        [
            "Exceptions filed under your policies from 16 Nov to 22 Nov 2026:",
            "",
            "- Gift cards: no exceptions.",
            "",
            f"Analysis: {analysis_url}",
        ]
    )


def test_weekly_digest_sends_nothing_twice_in_a_week(digest_week, admin_user, mailoutbox):
    assert weekly_digest_send(today=MONDAY) == 2
    assert weekly_digest_send(today=MONDAY) == 0
    assert weekly_digest_send(today=MONDAY + timedelta(days=6)) == 0
    assert len(mailoutbox) == 2
    assert weekly_digest_send(today=MONDAY + timedelta(days=7)) == 2
    assert len(mailoutbox) == 4


def test_a_resolved_flag_is_not_in_the_digest(digest_week, admin_user, mailoutbox):
    policy_review_resolve(flag_id=digest_week.pk, admin=admin_user, resolution="kept", note="Fine")
    weekly_digest_send(today=MONDAY)
    to_admin = next(m for m in mailoutbox if m.to == [admin_user.email])
    assert "Flagged for review" not in to_admin.body


def test_weekly_digest_task_is_safe_to_run_twice(digest_week, mailoutbox):
    with time_machine.travel(datetime(2026, 11, 23, 7, 0, tzinfo=UTC), tick=False):
        assert weekly_digest.delay().get() == 2
        assert weekly_digest.delay().get() == 0
    assert len(mailoutbox) == 2


# The resolve view --------------------------------------------------------------------------------


def resolve_url(flag: ReviewFlag) -> str:
    return reverse("policies:flag_resolve", args=[flag.pk])


def assert_still_open(flag: ReviewFlag) -> None:
    flag.refresh_from_db()
    assert (flag.resolved_at, flag.resolution, flag.resolution_note) == (None, "", "")
    assert Policy.objects.get(pk=flag.policy_id).needs_review is True


def test_policy_admin_resolves_a_flag(client, flagged, admin_user):
    client.force_login(admin_user)
    response = client.post(resolve_url(flagged), {"resolution": "changed_tiers", "note": "Raised the tier-1 cap"})
    assert response.status_code == 302
    assert response.url == reverse("policies:analysis")
    flagged.refresh_from_db()
    assert (flagged.resolution, flagged.resolution_note, flagged.resolved_by) == (
        "changed_tiers",
        "Raised the tier-1 cap",
        admin_user,
    )
    assert flagged.resolved_at is not None
    assert Policy.objects.get(pk=flagged.policy_id).needs_review is False
    page = client.get(response.url).text
    assert "“Return window” marked as reviewed: changed the tiers." in page


def test_the_analysis_page_offers_the_resolve_form_to_policy_admins_only(client, flagged, admin_user, manager_low):
    form_action = f'action="{resolve_url(flagged)}"'
    client.force_login(admin_user)
    page = client.get(reverse("policies:analysis")).text
    assert form_action in page
    assert flagged.reason in page
    client.force_login(manager_low)
    page = client.get(reverse("policies:analysis")).text
    assert form_action not in page
    assert flagged.reason in page


def test_get_is_refused(client, flagged, admin_user):
    client.force_login(admin_user)
    assert client.get(resolve_url(flagged)).status_code == 405
    assert_still_open(flagged)


@pytest.mark.parametrize("who", ["rep", "manager_low", "outsider"])
def test_reps_approvers_and_outsiders_are_refused(client, flagged, request, who):
    client.force_login(request.getfixturevalue(who))
    response = client.post(resolve_url(flagged), {"resolution": "kept", "note": "Sneaky"})
    assert response.status_code == 403
    assert_still_open(flagged)


def test_anonymous_is_sent_to_login(client, flagged):
    response = client.post(resolve_url(flagged), {"resolution": "kept", "note": "Sneaky"})
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert_still_open(flagged)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"resolution": "kept"},
        {"resolution": "kept", "note": "   "},
        {"resolution": "deleted", "note": "A note"},
        {"resolution": "kept", "note": "x" * 2001},
    ],
)
def test_bad_input_changes_nothing(client, flagged, admin_user, data):
    client.force_login(admin_user)
    response = client.post(resolve_url(flagged), data, follow=True)
    assert response.redirect_chain == [(reverse("policies:analysis"), 302)]
    assert "Choose what the review changed and write a short note (at most 2,000 characters)." in response.text
    assert_still_open(flagged)


def test_resolving_twice_shows_why_and_changes_nothing(client, flagged, admin_user):
    client.force_login(admin_user)
    with time_machine.travel(day(5), tick=False):
        client.post(resolve_url(flagged), {"resolution": "kept", "note": "First"})
    response = client.post(resolve_url(flagged), {"resolution": "changed_policy", "note": "Second"}, follow=True)
    assert "This flag was already resolved on 06 Sep 2026." in response.text
    flagged.refresh_from_db()
    assert (flagged.resolution, flagged.resolution_note) == ("kept", "First")


def test_unknown_flag_shows_why(client, db, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("policies:flag_resolve", args=[999999]), {"resolution": "kept", "note": "A note"}, follow=True
    )
    assert response.status_code == 200
    assert "That review flag does not exist." in response.text
