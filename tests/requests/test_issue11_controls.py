"""Issue 11, defects 6 to 9, each as it was reproduced on main: written against the interfaces that
existed then (the filing service, the form, Django admin), so that each fails on the old code.

6. The one-time rule is bypassed by writing the reference differently.
7. Back and resubmit files a second request.
8. A policy admin rewrites a decided request through the admin's history form.
9. Two filings for the same new customer at once: a server error, or two customers.
"""

from __future__ import annotations

import re
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from django.urls import reverse

from requests.models import Customer, ExceptionRequest, Status
from requests.services import exception_request_decide, exception_request_file
from tests.admin_forms import full_post
from tests.conftest import facts, form_data


@pytest.mark.parametrize("spelling", ["DEMO-1001.", "DEMO-1001/", "demo-1001 "])
def test_defect_6_another_spelling_is_the_same_customer_and_not_granted_again(rep, policy, spelling):
    exception_request_file(rep=rep, facts=facts(policy, customer_ref="DEMO-1001"))
    again = exception_request_file(rep=rep, facts=facts(policy, customer_ref=spelling))
    assert Customer.objects.count() == 1
    assert (again.status, again.is_repeat) == (Status.PENDING, True)


def test_defect_6_another_name_for_a_known_reference_is_a_form_error(client, rep, policy):
    exception_request_file(rep=rep, facts=facts(policy, customer_ref="DEMO-1001"))
    client.force_login(rep)
    response = client.post(reverse("requests:new"), form_data(policy, customer_ref="DEMO-1001", customer_name="Jo"))
    assert response.status_code == 200
    assert "customer_name" in response.context["form"].errors
    assert ExceptionRequest.objects.count() == 1


def test_defect_7_back_and_resubmit_files_once(client, rep, policy):
    client.force_login(rep)
    page = client.get(reverse("requests:new")).content.decode()
    token = re.search(r'name="filing_token" value="([^"]+)"', page)
    assert token is not None, "the form carries no one-time token"
    data = form_data(policy, amount="300.00", filing_token=token.group(1))
    client.post(reverse("requests:new"), data)
    client.post(reverse("requests:new"), data)
    assert ExceptionRequest.objects.count() == 1


def test_defect_8_the_history_form_does_not_rewrite_a_decided_request(client, admin_user, rep, policy, manager_high):
    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300")))
    decided = exception_request_decide(
        request_id=filed.pk, approver=manager_high, approve=False, note="No", alternative="Credit"
    )
    version = decided.history.order_by("-history_id").first()
    before = model_to_dict(ExceptionRequest.objects.get(pk=decided.pk))
    client.force_login(admin_user)
    forged = full_post(decided, admin_user, "status", Status.APPROVED)
    forged.update(amount="1.00", decision_note="Forged")
    url = reverse("admin:requests_exceptionrequest_simple_history", args=[decided.pk, version.history_id])
    response = client.post(url, forged)
    assert response.status_code in (403, 405)
    assert model_to_dict(ExceptionRequest.objects.get(pk=decided.pk)) == before


@pytest.mark.django_db(transaction=True)
def test_defect_9_concurrent_filings_for_one_new_customer_make_one_customer_without_error(rep, policy):
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def file(spelling: str) -> None:
        try:
            barrier.wait()
            exception_request_file(rep=rep, facts=facts(policy, customer_ref=spelling))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=file, args=(s,)) for s in ("NEW-9", "new-9.")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Customer.objects.count() == 1
    assert ExceptionRequest.objects.count() == 2
