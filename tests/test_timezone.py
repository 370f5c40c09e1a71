"""Times show in the reader's own time zone (the browser's, from the tz cookie)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.urls import reverse

from requests.services import exception_request_file
from tests.conftest import facts

FILED = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def test_request_page_shows_times_in_the_browsers_time_zone(client, rep, policy):
    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300")), now=FILED)
    client.force_login(rep)
    client.cookies["tz"] = "America/New_York"
    assert "1 Jul 2026, 06:00" in client.get(reverse("requests:detail", args=[filed.pk])).text
    client.cookies["tz"] = "Asia/Tokyo"
    assert "1 Jul 2026, 19:00" in client.get(reverse("requests:detail", args=[filed.pk])).text


def test_time_zone_as_the_browser_script_writes_it(client, rep, policy):
    """static/portal/timezone.js URL-encodes the zone: "America%2FNew_York"."""
    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300")), now=FILED)
    client.force_login(rep)
    client.cookies["tz"] = "America%2FNew_York"
    assert "1 Jul 2026, 06:00" in client.get(reverse("requests:detail", args=[filed.pk])).text


def test_unknown_time_zone_falls_back_to_the_portals(client, rep, policy, settings):
    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300")), now=FILED)
    client.force_login(rep)
    client.cookies["tz"] = "Mars/Olympus_Mons"
    page = client.get(reverse("requests:detail", args=[filed.pk])).text
    assert settings.TIME_ZONE == "Europe/London"
    assert "1 Jul 2026, 11:00" in page  # British Summer Time
