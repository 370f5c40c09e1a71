"""make run's log: one line per email in development, one line per expected 403/404."""

from __future__ import annotations

import logging

from django.core import mail
from django.urls import reverse

from exceptions_portal.logs import SummaryEmailBackend


def test_an_email_is_one_log_line_and_its_full_text_goes_to_a_file(settings, tmp_path, caplog):
    settings.VAR_DIR = tmp_path
    settings.EMAIL_BACKEND = "exceptions_portal.logs.SummaryEmailBackend"
    with caplog.at_level(logging.INFO, logger="exceptions_portal.mail"):
        sent = mail.send_mail("EX-2026-000001 escalated", "A long body\nwith several lines", "a@x.test", ["b@x.test"])
    assert sent == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "exceptions_portal.mail"]
    assert lines == [f"Email to b@x.test: EX-2026-000001 escalated (full text in {tmp_path / 'mail.log'})"]
    text = (tmp_path / "mail.log").read_text()
    assert "A long body\nwith several lines" in text and "Subject: EX-2026-000001 escalated" in text


def test_the_backend_counts_what_it_sent(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    messages = [
        mail.EmailMessage("One", "1", "a@x.test", ["b@x.test"]),
        mail.EmailMessage("Two", "2", "a@x.test", ["c@x.test"]),
    ]
    assert SummaryEmailBackend().send_messages(messages) == 2


def test_a_403_and_a_404_are_logged_without_a_traceback(client, rep, caplog):
    client.force_login(rep)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get(reverse("requests:queue")).status_code == 403
        assert client.get(reverse("requests:detail", args=[999999])).status_code == 404
    records = [r for r in caplog.records if r.name == "django.request"]
    assert [r.status_code for r in records] == [403, 404]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in records)
