"""Prints where the portal runs and, with DEBUG on only, the demo logins."""

from django.conf import settings
from django.core.management.base import BaseCommand

from policies.management.demo_data import DEMO_PASSWORD, USERS


class Command(BaseCommand):
    help = "Print the portal's URL and, when DEBUG is on, the demo logins."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args, url: str, **options) -> None:
        database = settings.DATABASES["default"]
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"The exceptions portal runs at {url}"))
        self.stdout.write(
            f"  database: {database['ENGINE'].rsplit('.', 1)[-1]} · broker: {settings.CELERY_BROKER_URL.split('://')[0]}"
        )
        if settings.DEBUG:
            self.stdout.write(f"  demo logins (password for all: {DEMO_PASSWORD}):")
            for user in USERS:
                self.stdout.write(f"    {user.username:<9} {user.first_name} {user.last_name}, {user.group.lower()}")
        self.stdout.write("  Ctrl-C stops the web server, the worker and beat.\n")
