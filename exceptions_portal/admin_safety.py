"""Admin lists that answer an unreadable filter with the admin's own "?e=1" page, not a 500.

The admin applies any query parameter as a lookup (``?policy=…``, ``?filed_at__year=…``) and
only evaluates the query while building the page; a value no database can compare
(``99999999999999999999`` overflows SQLite's integers and Python's dates) raised there, outside
the admin's own check for bad lookups. ``SafeChangeList`` turns those errors into
``IncorrectLookupParameters``, which the admin already answers by redirecting to ``?e=1``.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.db import DataError


class SafeChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        try:
            return super().get_queryset(request, exclude_parameters)
        except OverflowError as error:  # the date hierarchy's year, month or day
            raise IncorrectLookupParameters(error) from error

    def get_results(self, request) -> None:
        try:
            super().get_results(request)
        except (OverflowError, ValueError, DataError) as error:
            raise IncorrectLookupParameters(error) from error


class SafeChangeListMixin:
    def get_changelist(self, request, **kwargs):
        return SafeChangeList


def make_every_changelist_safe(site: admin.AdminSite = admin.site) -> None:
    """Give every registered ModelAdmin (Django's auth and django-axes' too) the safe list."""
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, SafeChangeListMixin):
            continue
        safe_class = type(f"Safe{type(model_admin).__name__}", (SafeChangeListMixin, type(model_admin)), {})
        site.unregister(model)
        site.register(model, safe_class)
