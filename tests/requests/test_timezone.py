"""Times show in the reader's own time zone (the browser's, from the tz cookie)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

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


def test_the_browsers_time_zone_does_not_outlive_the_request(client, rep, settings):
    # It used to stay active on the thread, so a later test's timezone.localdate() read the last reader's date.
    client.force_login(rep)
    client.cookies["tz"] = "Pacific/Honolulu"
    assert client.get(reverse("requests:mine")).status_code == 200
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE
