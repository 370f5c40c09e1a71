"""Customers: fill the normalised reference key of every existing customer.

Where two existing customers normalise to the same key, nothing is merged: the oldest (lowest id)
gets the key and the others keep an empty key, so that new filings find the oldest one;
``manage.py customers_duplicates`` lists them for a person to resolve (README).
"""

from django.db import migrations

from requests.references import customer_ref_key


def fill_keys(apps, schema_editor) -> None:
    Customer = apps.get_model("requests", "Customer")
    taken: set[str] = set()
    keys: dict[str, int] = {}
    # Read first, then write: SQLite gives no isolation between a cursor and writes on the same connection.
    for pk, reference in Customer.objects.order_by("pk").values_list("pk", "external_ref"):
        key = customer_ref_key(reference)
        if key and key not in taken:
            taken.add(key)
            keys[key] = pk
    changed = [Customer(pk=pk, ref_key=key) for key, pk in keys.items()]
    Customer.objects.bulk_update(changed, ["ref_key"], batch_size=1000)


def clear_keys(apps, schema_editor) -> None:
    apps.get_model("requests", "Customer").objects.update(ref_key=None)


class Migration(migrations.Migration):
    dependencies = [
        ("requests", "0008_auth_b_customer_key"),
    ]

    operations = [
        migrations.RunPython(fill_keys, clear_keys),
    ]
