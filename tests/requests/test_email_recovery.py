"""After a worker crash every notification is emailed within 3 minutes, none twice: the numbers
that promise it, checked against each other (the measurement is tests/e2e/test_worker_integration.py)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from exceptions_portal.celery import app
from requests import notifications
from requests.tasks import resend_unsent_emails, send_new_emails, send_notification_email, send_notification_emails
from tests.portal.test_project import manage

TARGET = timedelta(minutes=3)
# Room for the resent chunk itself to go out.
SENDING = timedelta(seconds=50)


def project_tasks():
    app.loader.import_default_modules()
    return [task for name, task in app.tasks.items() if not name.startswith("celery.")]


def test_the_visibility_timeout_is_above_every_task_limit_and_every_countdown():
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    limits = [task.time_limit or settings.CELERY_TASK_TIME_LIMIT for task in project_tasks()]
    assert len(limits) >= 5
    assert visibility > max([*limits, settings.CELERY_TASK_TIME_LIMIT])
    assert send_notification_email.retry_backoff_max < visibility


def test_the_claim_timeout_is_just_above_the_send_tasks_hard_limit():
    for task in (send_notification_emails, send_notification_email, send_new_emails):
        assert task.time_limit <= notifications.EMAIL_SEND_TIME_LIMIT
    claim = notifications.EMAIL_CLAIM_TIMEOUT.total_seconds()
    assert notifications.EMAIL_SEND_TIME_LIMIT < claim <= notifications.EMAIL_SEND_TIME_LIMIT + 30
    assert send_notification_emails.soft_time_limit > settings.EMAIL_TIMEOUT


def test_the_resend_job_runs_every_minute_and_the_worst_case_is_within_three_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["resend-unsent-emails"]
    assert entry["task"] == resend_unsent_emails.name
    interval = timedelta(seconds=entry["schedule"])
    assert interval == timedelta(minutes=1)
    # Never claimed (the killed worker's message waits in the broker): picked once old enough.
    assert notifications.EMAIL_RESEND_AFTER + interval <= TARGET
    # Claimed by the killed worker: picked once the claim expires.
    assert notifications.EMAIL_CLAIM_TIMEOUT + interval + SENDING <= TARGET


def test_redis_gets_the_visibility_timeout_too(tmp_path):
    show = "from django.conf import settings as s; print(s.CELERY_BROKER_TRANSPORT_OPTIONS)"
    result = manage("shell", "-c", show, tmp_path=tmp_path, DEBUG="true", CELERY_BROKER_URL="redis://127.0.0.1:6379/3")
    assert result.stdout.strip().splitlines()[-1] == "{'visibility_timeout': 720}", result.stderr
