"""The Celery app. Tasks live in ``<app>/tasks.py``; the schedule is in settings."""

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

# The embedded default's broker writes messages atomically (see broker.py).
TRANSPORT_ALIASES["filesystem"] = "exceptions_portal.broker:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exceptions_portal.settings")

app = Celery("exceptions_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
