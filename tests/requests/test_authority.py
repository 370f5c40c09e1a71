"""Who may decide, claim or ask, with which authority, on whose behalf (issue #11, items 1-5 and 10).

Each test names the defect it guards. Through the services and the pages only, so that each one
also runs (and fails) on the code before the rule of authority.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from policies.models import ApproverLevel, ExceptionTier, Policy, ProblemType
from requests.escalation import sla_sweep
from requests.models import Customer, Delegation, ExceptionRequest, Status
from requests.services import (
    DelegationRefused,
    FilingRefused,
    NotAssigned,
    SelfDealing,
    delegation_create,
    exception_request_ask,
    exception_request_claim,
    exception_request_decide,
    exception_request_file,
)
from tests.conftest import facts, form_data


def away(approver, delegate, *, days: int = 0) -> Delegation:
    """An out-of-office running today (in the portal's time zone), made directly: the dates are the point."""
    today = timezone.localdate()
    return Delegation.objects.create(
        approver=approver, delegate=delegate, starts_on=today, ends_on=today + timedelta(days=days)
    )


# --- 1. segregation of duties reaches through out-of-office ---------------------------------------


@pytest.fixture
def filed_by_manager(policy, manager_high):
    """manager_high files 200.00 (tier 2): level 1, where manager_low (250) may approve it."""
    return exception_request_file(rep=manager_high, facts=facts(policy, amount=Decimal("200")))


def test_stand_in_cannot_decide_what_the_absent_approver_filed(filed_by_manager, manager_high, director):
    away(manager_high, director)
    with pytest.raises(SelfDealing, match="filed by Manager_High, for whom you are standing in"):
        exception_request_decide(request_id=filed_by_manager.pk, approver=director, approve=True, note="ok")
    filed_by_manager.refresh_from_db()
    assert (filed_by_manager.status, filed_by_manager.decided_by) == (Status.PENDING, None)


@pytest.mark.parametrize("action", ["claim", "ask"])
def test_stand_in_cannot_claim_or_ask_about_what_the_absent_approver_filed(
    filed_by_manager, manager_high, director, action
):
    away(manager_high, director)
    with pytest.raises(SelfDealing):
        if action == "claim":
            exception_request_claim(request_id=filed_by_manager.pk, approver=director)
        else:
            exception_request_ask(request_id=filed_by_manager.pk, approver=director, question="Why?")
    filed_by_manager.refresh_from_db()
    assert (filed_by_manager.status, filed_by_manager.claimed_by) == (Status.PENDING, None)


def test_approver_cannot_claim_their_own_request(policy, manager_low):
    own = exception_request_file(rep=manager_low, facts=facts(policy, amount=Decimal("200")))
    with pytest.raises(SelfDealing):
        exception_request_claim(request_id=own.pk, approver=manager_low)
    own.refresh_from_db()
    assert own.claimed_by is None


def test_stand_in_page_offers_no_decision_on_the_absent_approvers_filing(
    client, filed_by_manager, manager_high, manager_low
):
    away(manager_high, manager_low)
    client.force_login(manager_low)
    page = client.get(reverse("requests:detail", args=[filed_by_manager.pk])).text
    assert "Record decision" not in page
    assert "for whom you are standing in" in page
    assert filed_by_manager.reference not in client.get(reverse("requests:queue")).text


# --- 2. the authority shown is the authority applied ----------------------------------------------


def test_stand_in_is_shown_and_held_to_the_same_authority(client, pending, manager_low, manager_high):
    away(manager_high, manager_low)
    client.force_login(manager_low)
    page = client.get(reverse("requests:detail", args=[pending.pk])).text
    assert "Your money authority here: 2,500.00 on behalf of Manager_High" in page
    queue = client.get(reverse("requests:queue")).text
    assert "2,500.00 on behalf of Manager_High" in queue
    response = client.post(
        reverse("requests:decide", args=[pending.pk]), {"decision": "approve", "note": "Covering for Alex"}
    )
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == Status.APPROVED
    assert (pending.decided_by, pending.decided_on_behalf_of) == (manager_low, manager_high)
    assert pending.approver_authority == Decimal("2500.00")


def test_own_authority_applies_when_larger_and_the_record_says_so(pending, manager_low, manager_high):
    away(manager_low, manager_high)  # manager_high (2,500) stands in for manager_low (250)
    decided = exception_request_decide(request_id=pending.pk, approver=manager_high, approve=True, note="ok")
    assert (decided.decided_on_behalf_of, decided.approver_authority) == (None, Decimal("2500.00"))


def test_page_shows_own_authority_and_that_the_amount_is_above_it(client, pending, manager_low):
    client.force_login(manager_low)
    page = client.get(reverse("requests:detail", args=[pending.pk])).text
    assert "Your money authority here: 250.00." in page
    assert "300.00 is above it: you may deny it" in page


# --- 3. an offboarded approver's out-of-office gives nothing; delegations are bounded -------------


@pytest.fixture
def at_level_2(rep, policy):
    """3,000.00, beyond every tier: level 2, the director's (50,000)."""
    return exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("3000")))


def test_deactivated_approvers_out_of_office_gives_nothing(client, at_level_2, director, manager_high):
    away(director, manager_high, days=5)
    director.is_active = False
    director.save()
    director.groups.clear()
    with pytest.raises(NotAssigned):
        exception_request_decide(request_id=at_level_2.pk, approver=manager_high, approve=True, note="ok")
    at_level_2.refresh_from_db()
    assert at_level_2.status == Status.PENDING
    client.force_login(manager_high)
    assert at_level_2.reference not in client.get(reverse("requests:queue")).text


def test_former_approvers_out_of_office_gives_nothing(at_level_2, director, manager_high):
    away(director, manager_high)
    ApproverLevel.objects.filter(user=director).delete()
    with pytest.raises(NotAssigned):
        exception_request_decide(request_id=at_level_2.pk, approver=manager_high, approve=True, note="ok")


def test_active_approvers_out_of_office_still_works(at_level_2, director, manager_high):
    away(director, manager_high)
    decided = exception_request_decide(request_id=at_level_2.pk, approver=manager_high, approve=True, note="ok")
    assert (decided.decided_on_behalf_of, decided.approver_authority) == (director, Decimal("50000.00"))


@pytest.mark.parametrize(
    ("starts_on", "ends_on", "message"),
    [
        (date(1, 1, 1), date(9999, 12, 31), "cannot start in the past"),
        ("today", "today+60", "lasts at most 60 days: 61 days"),
        ("today-1", "today", "cannot start in the past"),
    ],
)
def test_out_of_office_is_bounded_and_cannot_start_in_the_past(
    client, manager_high, director, starts_on, ends_on, message
):
    today = timezone.localdate()

    def day(value):
        if isinstance(value, date):
            return value
        offset = int(value[5:]) if len(value) > 5 else 0
        return today + timedelta(days=offset)

    with pytest.raises(DelegationRefused, match=message):
        delegation_create(approver=manager_high, delegate=director, starts_on=day(starts_on), ends_on=day(ends_on))
    client.force_login(manager_high)
    response = client.post(
        reverse("requests:delegation"),
        {"delegate": director.pk, "starts_on": day(starts_on).isoformat(), "ends_on": day(ends_on).isoformat()},
    )
    assert response.status_code == 200
    assert message.split(":")[0] in response.text
    assert Delegation.objects.count() == 0


def test_sixty_day_out_of_office_is_accepted(manager_high, director, settings):
    today = timezone.localdate()
    delegation_create(approver=manager_high, delegate=director, starts_on=today, ends_on=today + timedelta(days=59))
    settings.DELEGATION_MAX_DAYS = 5
    with pytest.raises(DelegationRefused, match="at most 5 days"):
        delegation_create(approver=manager_high, delegate=director, starts_on=today, ends_on=today + timedelta(days=5))
    assert Delegation.objects.count() == 1


# --- 4. an out-of-office is in force by the portal's calendar, not the browser's ------------------

# 05:00 UTC on 8 Dec: 8 Dec in London (the portal's zone), still 7 Dec in Etc/GMT+12 (UTC-12).
MORNING = datetime(2026, 12, 8, 5, 0, tzinfo=UTC)


def test_browser_time_zone_does_not_extend_an_out_of_office(client, rep, policy, manager_high, director, settings):
    settings.TIME_ZONE = "Europe/London"
    with time_machine.travel(MORNING, tick=False):
        pending = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300")))
        Delegation.objects.create(
            approver=manager_high, delegate=director, starts_on=date(2026, 12, 5), ends_on=date(2026, 12, 7)
        )
        client.force_login(director)
        client.cookies["tz"] = "Etc%2FGMT%2B12"
        assert pending.reference not in client.get(reverse("requests:queue")).text
        response = client.post(reverse("requests:decide", args=[pending.pk]), {"decision": "approve", "note": "x"})
        assert response.status_code == 404
        with timezone.override("Etc/GMT+12"), pytest.raises(NotAssigned):
            exception_request_decide(request_id=pending.pk, approver=director, approve=True, note="ok")
    pending.refresh_from_db()
    assert pending.status == Status.PENDING


def test_out_of_office_starts_by_the_portal_calendar(client, rep, policy, manager_high, director, settings):
    settings.TIME_ZONE = "Europe/London"
    with time_machine.travel(MORNING, tick=False):
        pending = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300")))
        Delegation.objects.create(
            approver=manager_high, delegate=director, starts_on=date(2026, 12, 8), ends_on=date(2026, 12, 8)
        )
        client.force_login(director)
        client.cookies["tz"] = "Etc%2FGMT%2B12"
        assert pending.reference in client.get(reverse("requests:queue")).text


# --- 5. a request nobody may approve is refused; routing and escalation go by amount --------------


def test_filing_what_nobody_may_approve_is_refused_and_saves_nothing(rep, policy):
    with pytest.raises(FilingRefused) as refused:
        exception_request_file(rep=rep, facts=facts(policy, customer_ref="NEW-9", amount=Decimal("99999")))
    assert "Nobody may approve 99,999.00 under “Return window”; the highest authority is 50,000.00." in str(
        refused.value
    )
    assert ExceptionRequest.objects.count() == 0
    assert not Customer.objects.filter(external_ref="NEW-9").exists()


def test_form_and_preview_say_nobody_may_approve_before_submit(client, rep, policy):
    client.force_login(rep)
    preview = client.get(reverse("requests:preview"), form_data(policy, amount="99999")).text
    assert "Nobody may approve 99,999.00 under “Return window”; the highest authority is 50,000.00." in preview
    assert "An approver decides" not in preview
    response = client.post(reverse("requests:new"), form_data(policy, amount="99999"))
    assert response.status_code == 200
    assert "Nobody may approve 99,999.00" in response.text
    assert ExceptionRequest.objects.count() == 0


def test_deactivated_director_cannot_be_routed_to(rep, policy, director):
    director.is_active = False
    director.save()
    with pytest.raises(FilingRefused, match="has no active approver at level 2 or above"):
        exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("3000")))


def test_amount_no_level_1_approver_may_approve_goes_straight_to_level_2(rep, policy, manager_high):
    ApproverLevel.objects.filter(user=manager_high).update(money_authority=Decimal("1000"))
    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("1200")))  # tier 3
    assert (filed.status, filed.approval_level) == (Status.PENDING, 2)
    assert "Nobody at approval level 1 may approve 1,200.00: it goes straight to level 2." in filed.routing_reasons


def test_filer_is_not_counted_as_who_may_approve(policy, manager_high):
    # Only manager_high may approve 1,400.00 at level 1, and they filed it: level 2 decides.
    filed = exception_request_file(rep=manager_high, facts=facts(policy, amount=Decimal("1400")))
    assert filed.approval_level == 2


def test_escalation_skips_a_level_that_cannot_approve(rep, policy, problem_type, manager_low, manager_high, director):
    ApproverLevel.objects.filter(user=director).update(level=3)
    ApproverLevel.objects.create(policy=policy, level=2, user=manager_low, money_authority=Decimal("100"))
    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300")))
    assert filed.approval_level == 1
    report = sla_sweep(now=filed.due_at + timedelta(minutes=1))
    filed.refresh_from_db()
    assert report.escalated == [filed.reference]
    assert (filed.status, filed.approval_level, filed.breached_level) == (Status.ESCALATED, 3, 1)


def test_breach_at_the_top_able_level_alerts(rep, policy, manager_high, director):
    ApproverLevel.objects.filter(user=director).update(money_authority=Decimal("100"))
    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300")))
    report = sla_sweep(now=filed.due_at + timedelta(minutes=1))
    filed.refresh_from_db()
    assert report.alerted == [filed.reference]
    assert (filed.approval_level, filed.alerted_at is not None) == (1, True)


# --- 10. a decision shows what was in force ---------------------------------------------------------


def test_decision_shows_the_policy_as_it_stood(client, pending, policy, manager_low, manager_high):
    policy.name = "Return window (old)"
    policy.save()  # version 2
    decided = exception_request_decide(
        request_id=pending.pk, approver=manager_low, approve=False, note="Too late", alternative="Store credit"
    )
    assert decided.approver_authority is None  # a denial needs none
    policy.name = "Return window RENAMED"
    policy.problem_type = ProblemType.objects.create(name="Billing", slug="billing")
    policy.save()
    ExceptionTier.objects.filter(policy=policy, level=3).update(money_cap=Decimal("9000"))
    client.force_login(manager_high)
    page = client.get(reverse("requests:detail", args=[pending.pk])).text
    assert "“Return window (old)” (Returns), version 2 of this policy" in page
    assert "RENAMED" not in page.split('id="decision-heading"')[1].split("</section>")[0]
    assert "1,500.00" in page and "9,000.00" not in page
    assert "Denied: a denial needs no money authority." in page
    assert "Money authority used" not in page


def test_approval_shows_the_authority_and_on_whose_behalf(client, pending, manager_low, manager_high):
    away(manager_high, manager_low)
    exception_request_decide(request_id=pending.pk, approver=manager_low, approve=True, note="ok")
    client.force_login(manager_low)
    page = client.get(reverse("requests:detail", args=[pending.pk])).text
    assert "Approved within an authority of 2,500.00 on behalf of Manager_High." in page
    version = Policy.objects.get(pk=pending.policy_id).history.count()
    assert f"version {version} of this policy, changed" in page
