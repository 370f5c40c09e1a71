"""Requests: withdrawal by the rep and the filing form's one-time token."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("requests", "0009_auth_b_normalise"),
    ]

    operations = [
        migrations.AddField(
            model_name="exceptionrequest",
            name="filing_token",
            field=models.UUIDField(blank=True, editable=False, null=True, unique=True),
        ),
        migrations.AddField(
            model_name="exceptionrequest",
            name="withdrawal_reason",
            field=models.TextField(blank=True, max_length=2000),
        ),
        migrations.AddField(
            model_name="exceptionrequest",
            name="withdrawn_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="historicalexceptionrequest",
            name="filing_token",
            field=models.UUIDField(blank=True, db_index=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="historicalexceptionrequest",
            name="withdrawal_reason",
            field=models.TextField(blank=True, max_length=2000),
        ),
        migrations.AddField(
            model_name="historicalexceptionrequest",
            name="withdrawn_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="exceptionrequest",
            name="status",
            field=models.CharField(
                choices=[
                    ("granted", "Granted by rep"),
                    ("pending", "Pending approval"),
                    ("escalated", "Escalated"),
                    ("waiting_for_rep", "Waiting for rep"),
                    ("approved", "Approved"),
                    ("denied", "Denied"),
                    ("withdrawn", "Withdrawn by rep"),
                ],
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="historicalexceptionrequest",
            name="status",
            field=models.CharField(
                choices=[
                    ("granted", "Granted by rep"),
                    ("pending", "Pending approval"),
                    ("escalated", "Escalated"),
                    ("waiting_for_rep", "Waiting for rep"),
                    ("approved", "Approved"),
                    ("denied", "Denied"),
                    ("withdrawn", "Withdrawn by rep"),
                ],
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="kind",
            field=models.CharField(
                choices=[
                    ("decided", "Decision"),
                    ("info_requested", "Information requested"),
                    ("info_answered", "Information given"),
                    ("reminder", "SLA reminder"),
                    ("escalated", "Escalated"),
                    ("alert", "SLA breached at top level"),
                    ("review_flag", "Policy flagged for review"),
                    ("withdrawn", "Withdrawn by the rep"),
                ],
                max_length=20,
            ),
        ),
    ]
