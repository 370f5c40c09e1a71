"""Customer references: one customer however the reference is typed, created race-free, and the
data migration that normalised the existing ones (issue 11, defects 6 and 9)."""

from __future__ import annotations

import re
import threading
from decimal import Decimal
from importlib import import_module

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from requests.models import Customer, ExceptionRequest, Status
from requests.references import customer_ref_key, names_differ
from requests.services import CustomerNameConflict, customer_get_or_create, exception_request_file
from tests.conftest import facts, form_data

fill_keys = import_module("requests.migrations.0009_auth_b_normalise").fill_keys


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("DEMO-1001", "demo-1001"),
        ("demo-1001", "demo-1001"),
        ("  DEMO-1001  ", "demo-1001"),
        ("DEMO-1001.", "demo-1001"),
        ("DEMO-1001/", "demo-1001"),
        ("DEMO-1001./", "demo-1001"),
        ("DEMO 1001", "demo1001"),
        ("DEMO\t10 01", "demo1001"),
        ("A.B-1", "a.b-1"),  # inner punctuation stays: A.B-1 and AB-1 are different references
        ("AB-1", "ab-1"),
        ("Straße-9", "strasse-9"),
        ("...", ""),
        ("", ""),
    ],
)
def test_customer_ref_key(typed, key):
    assert customer_ref_key(typed) == key


@pytest.mark.parametrize(
    ("recorded", "typed", "differ"),
    [
        ("Maya Brooks", "", False),
        ("Maya Brooks", "   ", False),
        ("Maya Brooks", "maya  brooks", False),
        ("Maya Brooks", " MAYA BROOKS ", False),
        ("Maya Brooks", "Jane Doe", True),
        ("Maya Brooks", "Maya Brook", True),
    ],
)
def test_names_differ(recorded, typed, differ):
    assert names_differ(recorded, typed) is differ


@pytest.mark.parametrize("spelling", ["DEMO-1001.", "DEMO-1001/", "demo-1001 ", "DEMO - 1001", "Demo-1001"])
def test_every_spelling_files_for_the_one_customer(rep, policy, spelling):
    first = exception_request_file(rep=rep, facts=facts(policy, customer_ref="DEMO-1001"))
    again = exception_request_file(rep=rep, facts=facts(policy, customer_ref=spelling, customer_name=""))
    assert again.customer_id == first.customer_id
    assert Customer.objects.get().external_ref == "DEMO-1001"  # kept as first typed, for display
    assert again.status == Status.PENDING and again.is_repeat


def test_a_different_name_for_a_known_reference_is_refused_and_saves_nothing(rep, policy):
    exception_request_file(rep=rep, facts=facts(policy, customer_ref="DEMO-1001"))
    with pytest.raises(CustomerNameConflict, match="reference of Maya Brooks, not of Jane Doe"):
        exception_request_file(rep=rep, facts=facts(policy, customer_ref="demo-1001.", customer_name="Jane Doe"))
    assert ExceptionRequest.objects.count() == 1
    assert Customer.objects.get().name == "Maya Brooks"


def test_the_form_shows_a_different_name_as_an_error_on_the_name(client, rep, policy):
    exception_request_file(rep=rep, facts=facts(policy, customer_ref="DEMO-1001"))
    client.force_login(rep)
    response = client.post(reverse("requests:new"), form_data(policy, customer_ref="demo - 1001", customer_name="Jo"))
    assert response.status_code == 200
    assert "reference of Maya Brooks, not of Jo" in response.context["form"].errors["customer_name"][0]
    assert ExceptionRequest.objects.count() == 1


def test_the_form_accepts_the_same_name_in_another_case(client, rep, policy):
    exception_request_file(rep=rep, facts=facts(policy, customer_ref="DEMO-1001"))
    client.force_login(rep)
    response = client.post(
        reverse("requests:new"), form_data(policy, customer_ref="demo-1001", customer_name="maya brooks")
    )
    assert response.status_code == 302
    assert Customer.objects.count() == 1


def test_the_hint_names_the_known_customer_and_their_last_exception(client, rep, policy):
    first = exception_request_file(rep=rep, facts=facts(policy, customer_ref="DEMO-1001"))
    second = exception_request_file(rep=rep, facts=facts(policy, customer_ref="DEMO-1001", customer_name=""))
    client.force_login(rep)
    response = client.post(reverse("requests:customer_hint"), {"customer_ref": "demo-1001."})
    text = " ".join(re.sub(r"<[^>]+>", "", response.content.decode()).split())
    assert "Known customer: Maya Brooks (DEMO-1001) — 2 earlier exceptions, last " + second.reference in text
    assert first.reference != second.reference


def test_the_hint_warns_of_another_name_and_tells_a_new_customer(client, rep, policy):
    exception_request_file(rep=rep, facts=facts(policy, customer_ref="DEMO-1001"))
    client.force_login(rep)
    conflict = client.post(reverse("requests:customer_hint"), {"customer_ref": "DEMO-1001", "customer_name": "Jo"})
    assert "not of Jo" in conflict.content.decode()
    new = client.post(reverse("requests:customer_hint"), {"customer_ref": "NEW-1"})
    assert "New customer" in new.content.decode()


def test_the_hint_is_for_reps_only(client, outsider, policy):
    client.force_login(outsider)
    assert client.post(reverse("requests:customer_hint"), {"customer_ref": "C-1"}).status_code == 403


def test_the_filing_form_asks_for_the_hint_without_inline_script(client, rep, policy):
    client.force_login(rep)
    page = client.get(reverse("requests:new")).content.decode()
    assert f'hx-post="{reverse("requests:customer_hint")}"' in page
    assert 'id="customer-hint"' in page
    body = page.split("<body", 1)[1]
    # Every script of the page is a file under static/ (a Content-Security-Policy is coming); a JSON data
    # block (the tier caps, json_script) is data, not code.
    scripts = re.findall(r"<script\b[^>]*>", body)
    assert scripts and all(" src=" in tag or 'type="application/json"' in tag for tag in scripts), scripts


def test_a_lost_insert_race_rereads_the_winner(rep, policy, monkeypatch):
    """The window between the lookup and the insert: another filing created the customer meanwhile."""
    winner = Customer.objects.create(external_ref="NEW-7", name="Maya Brooks")
    real_filter = Customer.objects.filter
    calls = {"n": 0}

    def filter_missing_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            return Customer.objects.none()
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(Customer.objects, "filter", filter_missing_once)
    assert customer_get_or_create(external_ref="new-7.", name="Maya Brooks") == winner
    assert Customer.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_filings_for_a_new_customer_make_one_customer_and_no_error(rep, policy):
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def file(spelling: str) -> None:
        try:
            barrier.wait()
            exception_request_file(rep=rep, facts=facts(policy, customer_ref=spelling, amount=Decimal("20")))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=file, args=(s,)) for s in ("NEW-7", "new-7", "NEW-7.", "new 7")]
    # "new 7" is another key (new7): a second customer, also created without error.
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(Customer.objects.values_list("ref_key", flat=True)) == ["new-7", "new7"]
    assert ExceptionRequest.objects.count() == 4
    assert ExceptionRequest.objects.filter(customer__ref_key="new-7").values("customer").distinct().count() == 1


def test_the_data_migration_keys_existing_customers_and_merges_no_collision(db):
    # Rows as they were before keys: bulk_create skips save(), so ref_key stays empty.
    Customer.objects.bulk_create(
        [
            Customer(external_ref="ABC-1", name="Maya Brooks"),
            Customer(external_ref="abc-1.", name="Maya B."),
            Customer(external_ref="XYZ-9", name="Sam Patel"),
        ]
    )
    fill_keys(django_apps, None)
    keys = dict(Customer.objects.values_list("external_ref", "ref_key"))
    assert keys["ABC-1"] == "abc-1" and keys["abc-1."] is None and keys["XYZ-9"] == "xyz-9"
    assert Customer.objects.count() == 3  # nothing merged or dropped
    assert customer_get_or_create(external_ref="abc-1", name="").name == "Maya Brooks"  # the oldest is found


def test_customers_duplicates_reports_the_collisions(db, capsys):
    Customer.objects.bulk_create(
        [Customer(external_ref="ABC-1", name="Maya Brooks"), Customer(external_ref="abc-1/", name="Maya B.")]
    )
    fill_keys(django_apps, None)
    call_command("customers_duplicates")
    out = capsys.readouterr().out
    assert "abc-1:" in out and "'ABC-1'" in out and "'abc-1/'" in out
    assert "new filings find this one" in out and "not found by new filings" in out
    with pytest.raises(Exception, match="Duplicate customer references"):
        call_command("customers_duplicates", "--fail")


def test_customers_duplicates_says_when_there_are_none(db, capsys):
    Customer.objects.create(external_ref="ABC-1", name="Maya Brooks")
    call_command("customers_duplicates", "--fail")
    assert "No duplicate customer references." in capsys.readouterr().out


def test_the_hint_never_takes_the_customer_in_a_url(client, rep, policy):
    client.force_login(rep)
    # A GET would put the reference and the name in access logs and proxies: refused.
    assert (
        client.get(reverse("requests:customer_hint"), {"customer_ref": "C-1", "customer_name": "Jo"}).status_code == 405
    )
