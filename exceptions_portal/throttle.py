"""Login throttling with django-axes: after ``AXES_FAILURE_LIMIT`` wrong passwords for one
username from one address, that pair is locked out for ``AXES_COOLOFF_MINUTES`` (portal and
``/admin/login/`` alike, both go through ``authenticate(request, ...)``).

A superuser unlocks early in Django admin (Axes → Access attempts: delete the row).
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class LoginThrottleBackend(AxesStandaloneBackend):
    """Axes' lockout check, for logins that come with a web request.

    ``authenticate()`` without a request (the test client's ``login()``, a management command)
    is not a web login and cannot be attributed to an address: Axes would raise, so it is
    left to the next backend. Every web login path (the portal's and the admin's login view)
    passes the request.
    """

    def authenticate(self, request: HttpRequest | None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def client_ip(request: HttpRequest) -> str | None:
    """The address a login came from: the socket's peer, or, only when the operator said the
    portal sits behind its own proxy (``TRUST_PROXY_HEADERS``), the right-most address of
    ``X-Forwarded-For``, the one that proxy appended (those left of it are client-supplied)."""
    if settings.TRUST_PROXY_HEADERS:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if forwarded:
            return forwarded[-1][:64]
    return request.META.get("REMOTE_ADDR")


def lockout_response(request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None):
    """The page a locked-out person sees (429), on the portal's and the admin's login alike:
    what happened, how long it lasts, and whom to ask."""
    cool_off = get_cool_off(request)
    context = {
        "failure_limit": get_failure_limit(request, credentials),
        "username": get_client_username(request, credentials) or "",
        "cooloff_minutes": max(1, round(cool_off.total_seconds() / 60)) if cool_off else None,
    }
    return render(request, "registration/locked_out.html", context, status=429)
