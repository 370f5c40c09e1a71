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

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils import timezone
from django.utils.cache import patch_cache_control


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


# Browser features the portal never uses: no page of it (nor a script smuggled into one) may ask for them.
PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), "
    "magnetometer=(), microphone=(), midi=(), payment=(), publickey-credentials-get=(), usb=()"
)


class SecurityHeadersMiddleware:
    """``Permissions-Policy`` on every response, and ``Cache-Control: private, no-store`` on every
    response to a logged-in person: their pages hold customer data (names, references, money,
    free text, CSV exports), which no shared cache and no browser history on disk may keep.
    Static files never reach this middleware (WhiteNoise answers them before it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response


class RejectBadInputMiddleware:
    """Two inputs that reach code unable to refuse them get a clear 400 instead of a 500:

    - a NUL character in the path, a parameter, a form field or a cookie. No field of the portal
      may hold one (Django's form fields refuse it already), and PostgreSQL refuses it in any text
      it is given, which made ``?status=%00`` on an admin list a 500 (DataError);
    - an empty ``_to_field`` parameter, which Django's admin takes for a field named ""
      (FieldDoesNotExist on every change and delete page)."""

    MESSAGE = "The request contained a NUL character (%00), which no page or field of the portal accepts. Nothing was changed."
    TO_FIELD_MESSAGE = "The _to_field parameter is empty: leave it out or name a field. Nothing was changed."

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._has_nul(request):
            return HttpResponseBadRequest(self.MESSAGE, content_type="text/plain; charset=utf-8")
        if self._empty_to_field(request):
            return HttpResponseBadRequest(self.TO_FIELD_MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)

    @staticmethod
    def _empty_to_field(request: HttpRequest) -> bool:
        sources = [request.GET]
        if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
            sources.append(request.POST)
        return any("_to_field" in source and not source.get("_to_field") for source in sources)

    @staticmethod
    def _has_nul(request: HttpRequest) -> bool:
        if "\x00" in request.path_info:
            return True
        sources = [request.GET, request.COOKIES]
        if request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            sources.append(request.POST)
        for source in sources:
            items = source.lists() if hasattr(source, "lists") else ((k, [v]) for k, v in source.items())
            for key, values in items:
                if "\x00" in key or any("\x00" in value for value in values if isinstance(value, str)):
                    return True
        return False
