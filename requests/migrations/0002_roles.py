"""The portal's roles as Django groups with their permissions, as they were when this migration was written.

Frozen data, not an import of ``exceptions_portal/roles.py``: a migration must give a fresh database what it gave every
existing one. A change of roles is a new data migration (and an edit of ``exceptions_portal/roles.py`` and of the literal
table in ``tests/portal/test_project.py``).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

_POLICY_MODELS = (
    "problemtype",
    "policy",
    "control",
    "exceptiontier",
    "repright",
    "approverlevel",
    "businesscalendar",
    "holiday",
)

# (app_label, codename) per group.
ROLES = {
    "Reps": [
        ("requests", "add_exceptionrequest"),
        ("requests", "view_exceptionrequest"),
    ],
    "Approvers": [
        ("requests", "add_exceptionrequest"),
        ("requests", "view_exceptionrequest"),
        ("requests", "decide_exceptionrequest"),
        ("policies", "view_analysis"),
    ],
    "Policy admins": [
        ("requests", "view_exceptionrequest"),
        ("requests", "view_historicalexceptionrequest"),
        ("requests", "view_customer"),
        ("requests", "view_historicalcustomer"),
        ("requests", "view_delegation"),
        ("requests", "view_historicaldelegation"),
        ("policies", "view_analysis"),
        ("policies", "add_problemtype"),
        ("policies", "change_problemtype"),
        ("policies", "view_problemtype"),
        ("policies", "delete_problemtype"),
        ("policies", "add_policy"),
        ("policies", "change_policy"),
        ("policies", "view_policy"),
        ("policies", "add_control"),
        ("policies", "change_control"),
        ("policies", "view_control"),
        ("policies", "delete_control"),
        ("policies", "add_exceptiontier"),
        ("policies", "change_exceptiontier"),
        ("policies", "view_exceptiontier"),
        ("policies", "delete_exceptiontier"),
        ("policies", "add_repright"),
        ("policies", "change_repright"),
        ("policies", "view_repright"),
        ("policies", "delete_repright"),
        ("policies", "add_approverlevel"),
        ("policies", "change_approverlevel"),
        ("policies", "view_approverlevel"),
        ("policies", "delete_approverlevel"),
        ("policies", "add_businesscalendar"),
        ("policies", "change_businesscalendar"),
        ("policies", "view_businesscalendar"),
        ("policies", "delete_businesscalendar"),
        ("policies", "add_holiday"),
        ("policies", "change_holiday"),
        ("policies", "view_holiday"),
        ("policies", "delete_holiday"),
    ]
    + [("policies", f"view_historical{model}") for model in _POLICY_MODELS],
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after migrate; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(
            *[Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in perms]
        )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("requests", "0001_initial"),
        ("policies", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
