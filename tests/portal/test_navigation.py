"""The navigation (exceptions_portal.context_processors) and its unread count (requests.context_processors)."""

from __future__ import annotations

from decimal import Decimal

from django.urls import reverse

from exceptions_portal.formatting import money
from policies import routing
from requests.models import Notification


def test_a_rep_sees_filing_but_not_the_queue_nor_the_analysis(client, rep):
    client.force_login(rep)
    page = client.get(reverse("requests:mine")).content.decode()
    assert f'href="{reverse("requests:new")}"' in page
    assert f'href="{reverse("requests:queue")}"' not in page
    assert f'href="{reverse("policies:analysis")}"' not in page


def test_an_approver_sees_the_queue_the_analysis_and_their_unread_count(client, manager_low):
    for text in ("one", "two"):
        Notification.objects.create(user=manager_low, kind=Notification.Kind.REMINDER, text=text)
    Notification.objects.create(
        user=manager_low, kind=Notification.Kind.REMINDER, text="read", read_at="2026-01-01T00:00Z"
    )
    client.force_login(manager_low)
    page = client.get(reverse("requests:queue")).content.decode()
    assert f'href="{reverse("requests:queue")}"' in page
    assert f'href="{reverse("policies:analysis")}"' in page
    assert 'aria-label="2 unread"' in page


def test_no_badge_without_unread_notifications(client, manager_low):
    client.force_login(manager_low)
    assert " unread" not in client.get(reverse("requests:queue")).content.decode()


def test_money_reads_the_same_in_the_rules_sentences_and_on_the_pages():
    # policies.routing keeps its own money() (the pure rules import nothing of ours): the two must agree.
    for amount in (Decimal("0"), Decimal("1234.5"), Decimal("1000000.005")):
        assert money(amount) == routing.money(amount)
    assert money(Decimal("1234.5")) == "1,234.50"
