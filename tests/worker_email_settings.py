"""Settings for a worker subprocess whose emails take a second each and land in files
(tests/e2e/test_worker_email_crash.py): slow enough for a kill to land in the middle of a send, and
readable by the test process, which counts every message the workers sent."""

from __future__ import annotations

import os
import time

from django.core.mail.backends.filebased import EmailBackend as FileBackend

from exceptions_portal.settings import *  # noqa: F403

EMAIL_BACKEND = "tests.worker_email_settings.SlowFileBackend"
EMAIL_FILE_PATH = os.environ["WORKER_EMAIL_DIR"]
SEND_SECONDS = 1.0


class SlowFileBackend(FileBackend):
    def send_messages(self, email_messages):
        time.sleep(SEND_SECONDS)  # the SMTP round trip during which the worker is killed
        return super().send_messages(email_messages)
