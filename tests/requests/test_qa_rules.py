"""QA probes of issue #11's rules as they must hold in general, not only for the issue's examples.

Each test names the rule it guards; each failed on the merged code before its fix.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

import pytest
from django.urls import reverse

from requests.models import Customer, ExceptionRequest, Status
from requests.references import customer_ref_key, names_differ
from requests.services import (
    CustomerRefused,
    FilingRefused,
    NotAssigned,
    exception_request_file,
)
from tests.conftest import facts, form_data

# --- references: one customer however the rep types the reference ---------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "DEMO\u200b-1001",  # a zero-width space pasted from a chat tool
        "\ufeffDEMO-1001",  # a byte-order mark at the start of a pasted line
        "DEMO-1001\u2060",  # a word joiner
        "ＤＥＭＯ-１００１",  # full-width letters and digits (an East Asian keyboard)
        "DEMO\u20111001",  # a non-breaking hyphen
        "DEMO-1001。",  # an ideographic full stop
        "DEMO-1001…",  # an ellipsis
        "DEMO-1001”",  # a closing quotation mark
        "DEMO-1001\u00a0.",  # a no-break space, then a full stop
        "DEMO-1001\u3000",  # an ideographic space
    ],
)
def test_every_kind_of_space_width_and_trailing_punctuation_is_one_key(typed):
    assert customer_ref_key(typed) == customer_ref_key("DEMO-1001") == "demo-1001"


def test_composed_and_decomposed_accents_are_one_key():
    composed, decomposed = "JOSÉ-7", unicodedata.normalize("NFD", "JOSÉ-7")
    assert composed != decomposed
    assert customer_ref_key(composed) == customer_ref_key(decomposed) == "josé-7"


def test_composed_and_decomposed_accents_are_one_name():
    assert not names_differ("José Díaz", unicodedata.normalize("NFD", "JOSÉ DÍAZ"))


@pytest.mark.parametrize("typed", ["...", " ./ ", "\u200b", "。", "\ufeff\u00a0"])
def test_a_reference_with_nothing_left_is_refused_and_saves_nothing(rep, policy, typed):
    with pytest.raises(CustomerRefused):
        exception_request_file(rep=rep, facts=facts(policy, customer_ref=typed))
    assert (Customer.objects.count(), ExceptionRequest.objects.count()) == (0, 0)


def test_the_form_says_a_reference_of_punctuation_only_is_no_reference(client, rep, policy):
    client.force_login(rep)
    response = client.post(reverse("requests:new"), form_data(policy, customer_ref="\u200b…"))
    assert response.status_code == 200
    assert "reference" in " ".join(response.context["form"].errors["customer_ref"])
    assert (Customer.objects.count(), ExceptionRequest.objects.count()) == (0, 0)


def test_a_reference_whose_key_grows_past_the_column_is_a_clear_error_not_a_500(client, rep, policy):
    # "ß" case-folds to "ss": 40 typed characters make an 80-character key (the column holds 64).
    client.force_login(rep)
    response = client.post(reverse("requests:new"), form_data(policy, customer_ref="ß" * 40))
    assert response.status_code == 200
    assert "reference" in " ".join(response.context["form"].errors["customer_ref"])
    assert ExceptionRequest.objects.count() == 0


@pytest.mark.parametrize("reference", ["DEMO\x001001", "ß" * 64])
def test_the_customer_hint_never_fails_on_odd_input(client, rep, policy, reference):
    client.force_login(rep)
    response = client.post(reverse("requests:customer_hint"), {"customer_ref": reference, "customer_name": "A"})
    assert response.status_code == (400 if "\x00" in reference else 200)
    # A NUL character anywhere is refused as bad input (400, a page that says so), never a 500.
    nul = client.post(reverse("requests:customer_hint"), {"customer_ref": reference, "customer_name": "A\x00"})
    assert nul.status_code == 400


def test_the_preview_never_fails_on_odd_input(client, rep, policy):
    client.force_login(rep)
    query = {**form_data(policy, customer_ref="DEMO\x001001", amount="300.00"), "customer_name": "A\x00"}
    response = client.post(reverse("requests:preview"), query)
    assert response.status_code == 400


@pytest.mark.parametrize("spelling", ["DEMO-1001,", "DEMO-1001!", "DEMO-1001;", "(DEMO-1001)", "demo-1001 ?"])
def test_the_form_files_any_trailing_punctuation_as_the_known_customer(client, rep, policy, spelling):
    exception_request_file(rep=rep, facts=facts(policy, customer_ref="DEMO-1001"))
    client.force_login(rep)
    response = client.post(reverse("requests:new"), form_data(policy, customer_ref=spelling))
    if spelling.startswith("("):  # a reference starts with a letter or digit: refused, nothing saved
        assert "customer_ref" in response.context["form"].errors
        assert ExceptionRequest.objects.count() == 1
        return
    assert response.status_code == 302, response.context["form"].errors
    again = ExceptionRequest.objects.latest("pk")
    assert Customer.objects.count() == 1
    assert (again.status, again.is_repeat, again.customer.external_ref) == (Status.PENDING, True, "DEMO-1001")


def test_the_form_takes_a_reference_with_letters_beyond_ascii(client, rep, policy):
    client.force_login(rep)
    response = client.post(reverse("requests:new"), form_data(policy, customer_ref="ÉCOLE-12"))
    assert response.status_code == 302
    assert Customer.objects.get().external_ref == "ÉCOLE-12"


def test_a_known_reference_typed_with_a_zero_width_space_is_a_repeat(rep, policy):
    exception_request_file(rep=rep, facts=facts(policy, customer_ref="DEMO-1001"))
    again = exception_request_file(rep=rep, facts=facts(policy, customer_ref="DEMO-\u200b1001"))
    assert Customer.objects.count() == 1
    assert (again.status, again.is_repeat) == (Status.PENDING, True)


def test_the_filing_form_on_odd_input_is_not_a_500(client, rep, policy):
    client.force_login(rep)
    for amount in ("NaN", "Infinity", "-1", "1e400", "99999999999999999999.99", "0.001"):
        response = client.post(reverse("requests:new"), form_data(policy, amount=amount))
        assert response.status_code == 200, amount
    assert ExceptionRequest.objects.count() == 0


def test_amount_exactly_at_the_authority_may_be_approved(rep, policy, manager_low):
    from requests.services import exception_request_decide

    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("250.00")))
    decided = exception_request_decide(request_id=filed.pk, approver=manager_low, approve=True, note="ok")
    assert decided.status == Status.APPROVED


# --- out-of-office: ending one ------------------------------------------------------------------


def test_ending_an_out_of_office_that_already_ended_changes_nothing(client, manager_high, director):
    from datetime import timedelta

    from requests.authority import portal_today
    from requests.models import Delegation

    today = portal_today()
    past = Delegation.objects.create(
        approver=manager_high,
        delegate=director,
        starts_on=today - timedelta(days=30),
        ends_on=today - timedelta(days=20),
    )
    client.force_login(manager_high)
    response = client.post(reverse("requests:delegation"), {"end": str(past.pk)}, follow=True)
    assert response.status_code == 200
    past.refresh_from_db()
    assert past.ends_on == today - timedelta(days=20), "ending an ended out-of-office extended it"
    assert past.history.count() == 1


# --- no 500 on bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"page": "abc"},
        {"page": "-1"},
        {"page": "99999999999999999999"},
        {"level": "abc"},
        {"policy": "99999999999999999999"},
        {"tier": "7"},
        {"problem_type": "x"},
    ],
)
def test_the_queue_never_fails_on_odd_input(client, policy, manager_high, query):
    client.force_login(manager_high)
    assert client.get(reverse("requests:queue"), query).status_code == 200


@pytest.mark.parametrize(
    "data",
    [
        {"end": "99999999999999999999"},
        {"end": "-1"},
        {"end": ""},
        {"end": "1e3"},
        {"delegate": "abc", "starts_on": "2026-02-30", "ends_on": "x"},
        {"delegate": "99999999999999999999", "starts_on": "9999-12-31", "ends_on": "9999-12-31"},
    ],
)
def test_the_out_of_office_page_never_fails_on_odd_input(client, manager_high, director, data):
    client.force_login(manager_high)
    response = client.post(reverse("requests:delegation"), data)
    assert response.status_code in (200, 302)


def test_pages_of_a_request_never_fail_on_a_huge_id(client, manager_high, admin_user):
    client.force_login(manager_high)
    huge = 2**63
    for name in ("detail",):
        assert client.get(reverse(f"requests:{name}", args=[huge])).status_code == 404
    for name in ("decide", "claim", "ask", "withdraw", "answer"):
        assert client.post(reverse(f"requests:{name}", args=[huge]), {"note": "x"}).status_code == 404
    client.force_login(admin_user)
    for url in (
        f"/admin/requests/exceptionrequest/{huge}/history/",
        f"/admin/requests/exceptionrequest/{huge}/history/{huge}/",
        f"/admin/requests/exceptionrequest/{huge}/change/",
    ):
        assert client.get(url).status_code in (302, 404), url


def test_a_mangled_one_time_token_is_said_on_the_page_and_files_nothing(client, rep, policy):
    client.force_login(rep)
    response = client.post(reverse("requests:new"), form_data(policy, filing_token="not-a-token"))
    assert response.status_code == 200
    assert ExceptionRequest.objects.count() == 0
    page = response.content.decode()
    assert "one-time token was damaged" in page, "the form came back without saying why"
    token = re.search(r'name="filing_token" value="([^"]+)"', page).group(1)
    assert client.post(reverse("requests:new"), form_data(policy, filing_token=token)).status_code == 302
    assert ExceptionRequest.objects.count() == 1


# --- who counts as an approver: active AND still an approver (the Approvers role) -----------------


def _offboard(user) -> None:
    """Removed from the Approvers group (still active, e.g. moved to another team); rows left behind."""
    user.groups.clear()


def test_routing_does_not_count_someone_no_longer_an_approver(policy, manager_high, director):
    # Tier 3, 1,000.00, filed by manager_high: manager_low (250) cannot, so only the director could.
    _offboard(director)
    with pytest.raises(FilingRefused, match=r"Nobody may approve 1,000\.00 .*the highest authority is 250\.00"):
        exception_request_file(rep=manager_high, facts=facts(policy, amount=Decimal("1000")))
    assert ExceptionRequest.objects.count() == 0


def test_someone_no_longer_an_approver_cannot_decide_through_the_service(rep, policy, manager_high):
    from django.contrib.auth import get_user_model

    from requests.services import exception_request_decide

    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("200")))
    _offboard(manager_high)
    manager_high = get_user_model().objects.get(pk=manager_high.pk)  # no cached permissions
    with pytest.raises(NotAssigned):
        exception_request_decide(request_id=filed.pk, approver=manager_high, approve=True, note="ok")
    filed.refresh_from_db()
    assert filed.status == Status.PENDING


def test_a_stand_in_whose_out_of_office_ended_may_still_release_their_claim(rep, policy, manager_high, director):
    from requests.authority import portal_today
    from requests.models import Delegation
    from requests.services import exception_request_claim

    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("200")))
    away = Delegation.objects.create(
        approver=manager_high, delegate=director, starts_on=portal_today(), ends_on=portal_today()
    )
    exception_request_claim(request_id=filed.pk, approver=director)
    away.delete()  # the out-of-office is over (or cancelled): the claim must not stay stuck
    released = exception_request_claim(request_id=filed.pk, approver=director, release=True)
    assert released.claimed_by is None
    with pytest.raises(NotAssigned):  # but claiming again needs the authority
        exception_request_claim(request_id=filed.pk, approver=director)


def test_the_release_button_works_for_a_stand_in_whose_out_of_office_ended(client, rep, policy, manager_high, director):
    from requests.authority import portal_today
    from requests.models import Delegation
    from requests.services import exception_request_claim

    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("200")))
    away = Delegation.objects.create(
        approver=manager_high, delegate=director, starts_on=portal_today(), ends_on=portal_today()
    )
    exception_request_claim(request_id=filed.pk, approver=director)
    away.delete()
    client.force_login(director)
    response = client.post(reverse("requests:claim", args=[filed.pk]), {"action": "release"})
    assert response.status_code == 302
    filed.refresh_from_db()
    assert filed.claimed_by is None


def test_reminders_go_to_approvers_only_not_to_rows_left_behind(rep, policy, manager_low, manager_high):
    from requests.escalation import sla_sweep
    from requests.models import Notification

    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("200")))
    _offboard(manager_low)
    sla_sweep(now=filed.remind_at)
    reminded = set(Notification.objects.filter(kind=Notification.Kind.REMINDER).values_list("user_id", flat=True))
    assert reminded == {manager_high.pk}
