"""A readable development log: one line per email, one line per expected 403/404.

In development the console backend used to print every email in full, and Django logged a refused or
missing page with its traceback; ``make run``'s log drowned in them. The summary backend writes each
email's full text to a file under VAR_DIR and logs one line; the filter keeps the line for a 403/404
and drops the traceback, which says nothing about an expected refusal.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger("exceptions_portal.mail")


class SummaryEmailBackend(BaseEmailBackend):
    """Development email: the full text appended to VAR_DIR/mail.log, one line in the log per email."""

    _lock = threading.Lock()

    def send_messages(self, email_messages) -> int:
        path = Path(settings.VAR_DIR) / "mail.log"
        sent = 0
        with self._lock, path.open("a", encoding="utf-8") as out:
            for message in email_messages:
                out.write(message.message().as_string())
                out.write("\n" + "-" * 79 + "\n")
                logger.info("Email to %s: %s (full text in %s)", ", ".join(message.recipients()), message.subject, path)
                sent += 1
        return sent


class ExpectedClientErrors(logging.Filter):
    """A 403 or 404 is logged as its one line, without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) in (403, 404):
            record.exc_info = None
            record.exc_text = None
        return True
