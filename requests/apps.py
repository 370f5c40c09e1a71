from django.apps import AppConfig


class RequestsConfig(AppConfig):
    name = "requests"
    verbose_name = "Exception requests"

    def ready(self) -> None:
        # DRF's compat module tries "import requests" for its optional RequestsClient and finds this app,
        # which shadows the PyPI package (models.py): rest_framework.test then fails on import (it is
        # imported by drf-spectacular). Tell DRF the PyPI package is absent, before anything imports it.
        from rest_framework import compat

        if getattr(compat.requests, "__name__", None) == self.name and not hasattr(compat.requests, "Session"):
            compat.requests = None
