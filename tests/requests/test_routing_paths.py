"""Routing's rules hold alike wherever a request is routed: the service's preview, the form's live preview,
the API's preview, filing through the service, the form and the API, and the SLA sweep's escalation.

The pure rule and its sentences are tables in test_routing.py and test_routing_rules.py; here each case
runs through every path with the database behind it (who is active, who stands in for whom, the customer's
earlier requests) and every path must give the same outcome, level and sentences, and save nothing when it
refuses (DOMAIN.md, "Filing and routing", rules 1, 4 and 5; "Authority": nobody decides a request they filed,
or one filed by the person they stand in for).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from exceptions_portal import roles
from requests.authority import decision_authority
from requests.escalation import sla_sweep
from requests.models import Customer, Delegation, ExceptionRequest, Notification, Status
from requests.services import FilingRefused, exception_request_file, exception_request_preview
from tests.conftest import facts, form_data
from tests.requests.test_api import client_for, filing

YOURS = "You filed this request, so your own authority does not count: nobody decides a request they filed."
THEIRS = (
    "You filed this request, so neither your authority nor that of whoever stands in for you counts: "
    "nobody decides a request they filed, or one filed by the person they stand in for."
)
SKIP_1 = "Nobody at approval level 1 may approve 1,400.00: it goes straight to level 2."
NOBODY_AT_2 = (
    "“Return window” has no active approver at level 2 or above, so nobody could decide this request. "
    "Ask a policy admin to name one."
)
PENDING_1 = "Pending: assigned to approval level 1 (Manager_Low, Manager_High)."
PENDING_2 = "Pending: assigned to approval level 2 (Director)."
NO_TIER_FITS = "No tier's predefined limits cover this request: it needs the top level of approval."


@pytest.fixture(autouse=True)
def fresh_throttle_counts(db):
    # The API throttle counts live in the shared cache (a database table by default).
    cache.clear()
    yield
    cache.clear()


def away(absent, stand_in) -> Delegation:
    """An out-of-office running today by the portal's dates."""
    today = timezone.localdate()
    return Delegation.objects.create(approver=absent, delegate=stand_in, starts_on=today, ends_on=today)


def _sentences(reasons) -> tuple[str, ...]:
    # A pending filing also stores its deadline as facts, which no preview has.
    return tuple(reason for reason in reasons if isinstance(reason, str) and not reason.startswith("Due by"))


def _rolled_back(run: Callable[[], object]) -> object:
    """Run a filing and undo it, so that the next path files for a customer who has no request yet."""
    with transaction.atomic():
        result = run()
        transaction.set_rollback(True)
    return result


def every_path(user, policy, *, amount: str, customer_ref: str = "C-1", waive: bool = False) -> dict:
    """What each path decides: {path: (outcome, approval level, sentences)}; the form's pages are checked to
    show the same sentences. Filings are rolled back, and a refused one must have saved nothing."""
    control = policy.controls.get()
    names = (control.name,) if waive else ()
    found: dict[str, tuple] = {}
    before = ExceptionRequest.objects.count()

    decision, _ = exception_request_preview(
        rep=user, facts=facts(policy, amount=Decimal(amount), customer_ref=customer_ref, waived_controls=names)
    )
    found["preview"] = (decision.outcome.value, decision.approval_level, decision.reasons)

    api = client_for(user)
    body = {"policy": policy.pk, "sentiment": "unhappy", "amount": amount, "business_days": 0}
    body.update(customer_ref=customer_ref, waived_controls=[control.pk] if waive else [])
    answer = api.post("/api/v1/requests/preview/", body, format="json")
    assert answer.status_code == 200, answer.content
    answer = answer.json()
    found["api preview"] = (answer["outcome"], answer["approval_level"], tuple(answer["reasons"]))

    def file_by_service():
        try:
            filed = exception_request_file(
                rep=user, facts=facts(policy, amount=Decimal(amount), customer_ref=customer_ref, waived_controls=names)
            )
        except FilingRefused as refused:
            assert ExceptionRequest.objects.count() == before
            return ("refused", None, tuple(refused.reasons))
        return (filed.status, filed.approval_level, _sentences(filed.routing_reasons))

    found["filing"] = _rolled_back(file_by_service)

    def file_by_api():
        response = api.post(
            "/api/v1/requests/",
            filing(policy, amount=amount, customer_ref=customer_ref, waived_controls=body["waived_controls"]),
            format="json",
        )
        if response.status_code == 422:
            assert ExceptionRequest.objects.count() == before
            return ("refused", None, tuple(response.json()["reasons"]))
        assert response.status_code == 201, response.content
        stored = response.json()
        return (stored["status"], stored["approval_level"], _sentences(stored["routing_reasons"]))

    found["api filing"] = _rolled_back(file_by_api)

    browser = Client()
    browser.force_login(user)
    data = form_data(policy, amount=amount, customer_ref=customer_ref)
    if waive:
        data["waived_controls"] = [str(control.pk)]
    preview_page = html.unescape(browser.post(reverse("requests:preview"), data).text)
    for sentence in decision.reasons:
        assert sentence in preview_page, sentence

    def file_by_form():
        response = browser.post(reverse("requests:new"), data)
        if decision.outcome.value == "refused":
            assert response.status_code == 200
            page = html.unescape(response.text)
            for sentence in decision.reasons:
                assert sentence in page, sentence
            assert ExceptionRequest.objects.count() == before
        else:
            assert response.status_code == 302
            assert ExceptionRequest.objects.latest("pk").approval_level == decision.approval_level

    _rolled_back(file_by_form)
    return found


def same_everywhere(found: dict) -> tuple:
    decided = set(found.values())
    assert len(decided) == 1, found
    return decided.pop()


def _filer_is_level_1s_only_able_approver(users):
    return users["manager_high"]


def _filers_stand_in_is_level_1s_only_able_approver(users):
    away(users["manager_low"], users["manager_high"])
    return users["manager_low"]


def _filer_stands_in_for_level_1s_able_approver(users):
    # Standing in for someone does not bar that person from deciding what the stand-in files.
    away(users["manager_high"], users["manager_low"])
    return users["manager_low"]


def _top_levels_only_holder_files(users):
    return users["director"]


def _top_levels_only_holder_stands_in_for_the_filer(users):
    away(users["manager_high"], users["director"])
    return users["manager_high"]


def _top_level_deactivated(users):
    users["director"].is_active = False
    users["director"].save()
    return users["rep"]


def _top_level_left_the_approvers(users):
    users["director"].groups.remove(Group.objects.get(name=roles.APPROVERS))
    return users["rep"]


def _a_rep(users):
    return users["rep"]


def _inactive_policy(users):
    users["policy"].active = False
    users["policy"].save()
    return users["rep"]


@pytest.mark.parametrize(
    ("case", "setup", "amount", "waive", "expected"),
    [
        (
            "only the filer may approve the amount at level 1: level 2 decides",
            _filer_is_level_1s_only_able_approver,
            "1400",
            False,
            ("pending", 2, (YOURS, SKIP_1, PENDING_2)),
        ),
        (
            "only the filer's stand-in may approve the amount at level 1: level 2 decides",
            _filers_stand_in_is_level_1s_only_able_approver,
            "1400",
            False,
            ("pending", 2, (THEIRS, SKIP_1, PENDING_2)),
        ),
        (
            "the person the filer stands in for still decides at level 1",
            _filer_stands_in_for_level_1s_able_approver,
            "1400",
            False,
            ("pending", 1, ("Tier 3, a full resolution, is always decided by an approver.", PENDING_1)),
        ),
        (
            "beyond every tier, filed by the top level's only holder: refused",
            _top_levels_only_holder_files,
            "2000",
            False,
            ("refused", None, (YOURS, NOBODY_AT_2)),
        ),
        (
            "beyond every tier, the top level's only holder stands in for the filer: refused",
            _top_levels_only_holder_stands_in_for_the_filer,
            "2000",
            False,
            ("refused", None, (THEIRS, NOBODY_AT_2)),
        ),
        (
            "beyond every tier, the top level's holder deactivated: refused",
            _top_level_deactivated,
            "2000",
            False,
            ("refused", None, (NO_TIER_FITS, NOBODY_AT_2)),
        ),
        (
            "beyond every tier, the top level's holder no longer an approver: refused",
            _top_level_left_the_approvers,
            "2000",
            False,
            ("refused", None, (NO_TIER_FITS, NOBODY_AT_2)),
        ),
        (
            "beyond every tier and the top level's authority: refused, naming it",
            _a_rep,
            "99999",
            False,
            (
                "refused",
                None,
                (
                    NO_TIER_FITS,
                    "Nobody may approve 99,999.00 under “Return window”; the highest authority is 50,000.00. "
                    "Lower the amount, or ask a policy admin about the approvers' authority.",
                ),
            ),
        ),
        (
            "beyond every tier within the top level's authority",
            _a_rep,
            "2000",
            False,
            ("pending", 2, (NO_TIER_FITS, PENDING_2)),
        ),
        (
            "an inactive policy: refused with the reason",
            _inactive_policy,
            "20",
            False,
            ("refused", None, ("“Return window” is no longer active: no exception can be filed under it.",)),
        ),
        (
            "a waived control: refused with the reason",
            _a_rep,
            "20",
            True,
            (
                "refused",
                None,
                (
                    "The request would waive the control “Serial numbers”: Every device is documented by serial "
                    "number. Exceptions are for process, not for controls: we can change how, not why. "
                    "Offer a process alternative instead.",
                ),
            ),
        ),
    ],
)
def test_every_path_routes_alike(
    case, setup, amount, waive, expected, rep, policy, manager_low, manager_high, director
):
    users = {"rep": rep, "manager_low": manager_low, "manager_high": manager_high, "director": director}
    filer = setup({**users, "policy": policy})
    outcome, level, reasons = same_everywhere(every_path(filer, policy, amount=amount, waive=waive))
    assert (outcome, level) == expected[:2], case
    assert reasons[-len(expected[2]) :] == expected[2], case
    assert (YOURS in reasons or THEIRS in reasons) is (expected[2][0] in (YOURS, THEIRS)), case
    if outcome == "refused":
        assert ExceptionRequest.objects.count() == 0
        assert not Customer.objects.exists()


def test_routing_agrees_with_who_may_approve(policy, manager_low, manager_high):
    """Where routing sends a request, its authority lets someone approve it; the stand-in is not that someone."""
    away(manager_low, manager_high)
    filed = exception_request_file(rep=manager_low, facts=facts(policy, amount=Decimal("1400")))
    assert filed.approval_level == 2
    filed.approval_level = 1
    assert decision_authority(user=manager_high, request=filed).self_dealing is True
    Delegation.objects.all().delete()
    away(manager_high, manager_low)
    filed = exception_request_file(rep=manager_low, facts=facts(policy, amount=Decimal("1400"), customer_ref="C-2"))
    assert filed.approval_level == 1
    assert decision_authority(user=manager_high, request=filed).may_approve(Decimal("1400"))


def test_a_change_of_group_membership_reaches_the_next_filing(rep, policy, manager_high):
    """The policy's rules are cached per rules version: leaving the approvers' group must give a new one."""
    assert exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("1400"))).approval_level == 1
    manager_high.groups.remove(Group.objects.get(name=roles.APPROVERS))
    second = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("1400"), customer_ref="C-2"))
    assert second.approval_level == 2


# --- "always where this customer already had an exception under this policy" ---------------------


@pytest.mark.parametrize(
    ("case", "earlier_status", "typed_as", "same_policy", "is_repeat"),
    [
        ("granted at once", Status.GRANTED, "C-1", True, True),
        ("approved", Status.APPROVED, "C-1", True, True),
        ("still pending: counted, or a double filing would bypass the rule", Status.PENDING, "C-1", True, True),
        ("escalated", Status.ESCALATED, "C-1", True, True),
        ("denied: nothing was granted", Status.DENIED, "C-1", True, False),
        ("withdrawn: not an earlier exception", Status.WITHDRAWN, "C-1", True, False),
        ("granted, the reference typed differently", Status.GRANTED, " c-1. ", True, True),
        ("granted under another policy", Status.GRANTED, "C-1", False, False),
    ],
)
def test_earlier_exceptions_alike_everywhere(
    case, earlier_status, typed_as, same_policy, is_repeat, rep, policy, problem_type
):
    from tests.conftest import make_policy

    other = make_policy(problem_type, name="Late fees")
    # An open earlier request is filed pending (it keeps its deadline), a closed one granted at once.
    amount = Decimal("100") if earlier_status in (Status.PENDING, Status.ESCALATED) else Decimal("20")
    earlier = exception_request_file(rep=rep, facts=facts(policy if same_policy else other, amount=amount))
    ExceptionRequest.objects.filter(pk=earlier.pk).update(status=earlier_status)
    found = every_path(rep, policy, amount="20", customer_ref=typed_as)
    outcome, level, reasons = same_everywhere(found)
    repeat_sentence = (
        f"This customer already had an exception under “Return window” ({earlier.reference}): "
        "a one-time exception is one time, so an approver decides."
    )
    assert (outcome, level, repeat_sentence in reasons) == (
        ("pending", 1, True) if is_repeat else ("granted", None, False)
    ), case


# --- escalation: the next level someone other than the filer and their stand-ins may approve at ------


@pytest.fixture
def three_levels(policy, manager_low, manager_high, director):
    """Level 1: Manager_Low (250); level 2: Manager_High (2,500); level 3: Director (50,000)."""
    policy.approver_levels.filter(user=manager_high).update(level=2)
    policy.approver_levels.filter(user=director).update(level=3)
    policy.save()  # a new rules version
    return policy


def _breach(filed: ExceptionRequest):
    report = sla_sweep(now=filed.due_at + timedelta(minutes=1))
    filed.refresh_from_db()
    return report


def test_escalation_skips_a_level_only_the_filers_stand_in_holds(three_levels, manager_high, director):
    from tests.conftest import make_user

    filer = make_user("alex", roles.APPROVERS)
    filed = exception_request_file(rep=filer, facts=facts(three_levels, amount=Decimal("200")))
    assert filed.approval_level == 1
    away(filer, manager_high)
    report = _breach(filed)
    assert report.escalated == [filed.reference]
    assert (filed.status, filed.breached_level, filed.approval_level) == (Status.ESCALATED, 1, 3)


def test_escalation_past_the_filer_alone_alerts_the_policy_admins(three_levels, director, admin_user):
    filed = exception_request_file(rep=director, facts=facts(three_levels, amount=Decimal("200")))
    three_levels.approver_levels.filter(level=2).delete()
    report = _breach(filed)
    assert (report.escalated, report.alerted) == ([], [filed.reference])
    assert (filed.approval_level, filed.alerted_at is not None) == (1, True)
    alerts = Notification.objects.filter(request=filed, kind=Notification.Kind.ALERT)
    assert list(alerts.values_list("user", flat=True)) == [admin_user.pk]


def test_escalation_still_reaches_someone_else_at_the_next_level(three_levels, manager_high):
    from tests.conftest import make_user

    filer = make_user("alex", roles.APPROVERS)
    filed = exception_request_file(rep=filer, facts=facts(three_levels, amount=Decimal("200")))
    report = _breach(filed)
    assert report.escalated == [filed.reference]
    assert filed.approval_level == 2
