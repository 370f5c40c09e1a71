"""The filing form carries a one-time token: the same form posted again files once (issue 11, defect 7)."""

from __future__ import annotations

import re
import threading
import uuid

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.urls import reverse

from requests.models import Customer, ExceptionRequest
from requests.services import (
    FormAlreadyUsed,
    exception_request_file_once,
)
from tests.conftest import facts, form_data


def token_of(page: str) -> str:
    return re.search(r'name="filing_token" value="([0-9a-f-]{36})"', page).group(1)


def test_each_form_shown_carries_its_own_token(client, rep, policy):
    client.force_login(rep)
    first = token_of(client.get(reverse("requests:new")).content.decode())
    second = token_of(client.get(reverse("requests:new")).content.decode())
    assert first != second


def test_back_and_resubmit_shows_the_first_request_and_files_nothing_more(client, rep, policy):
    client.force_login(rep)
    token = token_of(client.get(reverse("requests:new")).content.decode())
    data = form_data(policy, amount="300.00", filing_token=token)
    first = client.post(reverse("requests:new"), data)
    filed = ExceptionRequest.objects.get()
    again = client.post(reverse("requests:new"), data)
    assert first.status_code == again.status_code == 302
    assert again.url == first.url == reverse("requests:detail", args=[filed.pk])
    assert ExceptionRequest.objects.count() == 1
    shown = [str(m) for m in get_messages(again.wsgi_request)]
    assert f"This form was already filed as {filed.reference}: it was not filed again." in shown
    assert not filed.is_repeat


def test_a_form_shown_again_with_errors_keeps_its_token_and_files_once(client, rep, policy):
    client.force_login(rep)
    token = token_of(client.get(reverse("requests:new")).content.decode())
    invalid = client.post(reverse("requests:new"), form_data(policy, situation="", filing_token=token))
    assert token_of(invalid.content.decode()) == token
    client.post(reverse("requests:new"), form_data(policy, filing_token=token))
    client.post(reverse("requests:new"), form_data(policy, filing_token=token))
    assert ExceptionRequest.objects.count() == 1


def test_a_token_filed_by_another_rep_is_refused(rep, rep_with_right, policy):
    token = uuid.uuid4()
    exception_request_file_once(rep=rep, facts=facts(policy), filing_token=token)
    with pytest.raises(FormAlreadyUsed):
        exception_request_file_once(rep=rep_with_right, facts=facts(policy, customer_ref="C-2"), filing_token=token)
    assert ExceptionRequest.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_double_click_files_once(rep, policy):
    token = uuid.uuid4()
    barrier = threading.Barrier(3)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def file() -> None:
        try:
            barrier.wait()
            request, first_time = exception_request_file_once(rep=rep, facts=facts(policy), filing_token=token)
            results.append((request.pk, first_time))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=file) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert ExceptionRequest.objects.count() == 1 and Customer.objects.count() == 1
    filed = ExceptionRequest.objects.get()
    assert sorted(results, key=lambda r: not r[1]) == [(filed.pk, True), (filed.pk, False), (filed.pk, False)]


@pytest.mark.django_db(transaction=True)
def test_a_double_click_on_the_form_files_once_and_never_fails(rep, policy):
    data = form_data(policy, amount="300.00", filing_token=str(uuid.uuid4()))
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def post() -> None:
        try:
            client = Client()
            client.force_login(rep)
            barrier.wait()
            statuses.append(client.post(reverse("requests:new"), data).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [302, 302]
    assert ExceptionRequest.objects.count() == 1
