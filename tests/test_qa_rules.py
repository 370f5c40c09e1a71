"""QA probes of issue #11's rules as they must hold in general, not only for the issue's examples.

Each test names the rule it guards; each failed on the merged code before its fix.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal

import pytest
from django.urls import reverse

from requests.models import Customer, ExceptionRequest, Status
from requests.references import customer_ref_key, names_differ
from requests.services import ExceptionRequestError, exception_request_file
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
    with pytest.raises(ExceptionRequestError, match="reference"):
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
    response = client.get(reverse("requests:customer_hint"), {"customer_ref": reference, "customer_name": "A\x00"})
    assert response.status_code == 200


def test_the_preview_never_fails_on_odd_input(client, rep, policy):
    client.force_login(rep)
    query = {**form_data(policy, customer_ref="DEMO\x001001", amount="300.00"), "customer_name": "A\x00"}
    response = client.get(reverse("requests:preview"), query)
    assert response.status_code == 200


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
