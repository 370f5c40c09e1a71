"""One SLA sweep now: reminders, escalations and top-level alerts. Safe at any time."""

from django.core.management.base import BaseCommand

from requests.escalation import sla_sweep


class Command(BaseCommand):
    help = "Run one SLA sweep now and print what it did. Safe to run at any time, and twice."

    def handle(self, *args, **options) -> None:
        report = sla_sweep()
        for label, references in (
            ("Reminded", report.reminded),
            ("Escalated", report.escalated),
            ("Alerted admins for", report.alerted),
        ):
            if references:
                self.stdout.write(f"{label}: {', '.join(references)}")
        self.stdout.write(self.style.SUCCESS(f"SLA sweep done: {report}."))
