"""Show times in each person's own time zone.

The browser reports its IANA time zone in the ``tz`` cookie (static/portal/timezone.js);
an unknown or missing value falls back to the portal's TIME_ZONE. The zone is active for
the request only: afterwards the thread is back on TIME_ZONE, so whatever the thread runs
next (the next test, a thread-pool job) does not inherit the last reader's zone.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.http import HttpRequest, HttpResponse
from django.utils import timezone


class BrowserTimezoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The script writes the zone URL-encoded ("Europe%2FParis"), and Django hands cookie values over as sent.
        name = unquote(request.COOKIES.get("tz", ""))
        try:
            zone = ZoneInfo(name) if name and len(name) <= 64 else None
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
