from django.db import migrations, models


def first_version(apps, schema_editor) -> None:
    apps.get_model("policies", "RulesVersion").objects.get_or_create(pk=1, defaults={"stamp": "initial"})


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0003_approver_order"),
    ]

    operations = [
        migrations.CreateModel(
            name="RulesVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("stamp", models.CharField(max_length=32)),
            ],
        ),
        migrations.RunPython(first_version, migrations.RunPython.noop),
    ]
