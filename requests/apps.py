from django.apps import AppConfig
from django.core.management import call_command
from django.db.models.signals import post_migrate


def create_cache_table(*, using: str, **kwargs) -> None:
    """The database cache's table (settings.CACHES) after every ``migrate``: ``make migrate``, a deploy's
    migrate step, the benchmarks' and the browser tests' fresh databases. Does nothing when the table is
    there or the cache is Redis (CACHE_URL)."""
    call_command("createcachetable", database=using, verbosity=0)


class RequestsConfig(AppConfig):
    name = "requests"
    verbose_name = "Exception requests"

    def ready(self) -> None:
        post_migrate.connect(create_cache_table, sender=self, dispatch_uid="requests.create_cache_table")

        # Filing keeps who stands in for whom today (authority.stand_ins_of), who may decide at each level and
        # whether they want digests (notifications.deciders), and whether any webhook endpoint is active
        # (webhooks.endpoints_active) per process under the rules version: any out-of-office, notification
        # preference or endpoint saved or deleted renews it, as a change to the rulebook does (policies.signals).
        from policies.signals import renew_rules_on
        from requests.api_models import WebhookEndpoint
        from requests.models import Delegation, NotificationPreference

        renew_rules_on(Delegation, NotificationPreference, WebhookEndpoint)

        # DRF's compat module tries "import requests" for its optional RequestsClient and finds this app,
        # which shadows the PyPI package (models.py): rest_framework.test then fails on import (it is
        # imported by drf-spectacular). Tell DRF the PyPI package is absent, before anything imports it.
        from rest_framework import compat

        if getattr(compat.requests, "__name__", None) == self.name and not hasattr(compat.requests, "Session"):
            compat.requests = None

        # The admin (first in INSTALLED_APPS) has loaded every admin module by now: every list,
        # the project's, Django auth's and django-axes', answers an unreadable filter with
        # "?e=1" instead of a 500.
        from exceptions_portal.admin_safety import make_every_changelist_safe

        make_every_changelist_safe()
