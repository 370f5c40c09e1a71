"""Customers: the normalised reference key (requests/references.py), unique; filled by 0009."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("requests", "0006_drop_open_due_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="ref_key",
            field=models.CharField(
                blank=True, editable=False, max_length=64, null=True, unique=True, verbose_name="normalised reference"
            ),
        ),
        migrations.AddField(
            model_name="historicalcustomer",
            name="ref_key",
            field=models.CharField(
                blank=True, db_index=True, editable=False, max_length=64, null=True, verbose_name="normalised reference"
            ),
        ),
    ]
