"""Empty the analysis' rollups and count every final request into them again (README: "How the counts are kept")."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from requests.services import requests_roll_up, requests_rollups_reset


class Command(BaseCommand):
    help = (
        "Rebuild the analysis' daily rollups, after a change of TIME_ZONE (their days are its days). The "
        "analysis stays exact meanwhile: whatever is not rolled up is counted live."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--reset-only",
            action="store_true",
            help="Only empty them; the catch-up job (every minute on beat) fills them again.",
        )

    def handle(self, *args, reset_only: bool = False, **options) -> None:
        marked = requests_rollups_reset()
        self.stdout.write(f"Emptied the rollups; {marked:,} requests to count again.")
        if reset_only:
            return
        counted = requests_roll_up()
        self.stdout.write(f"Rolled up {counted:,} requests.")
