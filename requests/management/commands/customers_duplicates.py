"""List customers whose references are one reference once normalised (README: "Customer references")."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from requests.models import Customer
from requests.references import customer_ref_key


def duplicate_customers() -> dict[str, list[Customer]]:
    """Customers grouped by normalised key, only the keys that more than one customer has; oldest first."""
    groups: dict[str, list[Customer]] = {}
    for customer in Customer.objects.annotate(requests=Count("exception_requests")).order_by("pk"):
        groups.setdefault(customer_ref_key(customer.external_ref), []).append(customer)
    return {key: customers for key, customers in groups.items() if len(customers) > 1}


class Command(BaseCommand):
    help = (
        "List customers that are one customer by their normalised reference (case, spaces, trailing "
        "punctuation) but were recorded twice before references were normalised. Merges nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--fail", action="store_true", help="Exit with status 1 when there are duplicates (for monitoring)."
        )

    def handle(self, *args, fail: bool = False, **options) -> None:
        groups = duplicate_customers()
        if not groups:
            self.stdout.write("No duplicate customer references.")
            return
        for key, customers in groups.items():
            self.stdout.write(f"{key}:")
            for customer in customers:
                found = "new filings find this one" if customer.ref_key == key else "not found by new filings"
                self.stdout.write(
                    f"  customer #{customer.pk} {customer.external_ref!r} {customer.name!r}: "
                    f"{customer.requests} request(s), {found}"
                )
        self.stdout.write(f"{len(groups)} reference(s) recorded for more than one customer.")
        if fail:
            raise CommandError("Duplicate customer references found.")
