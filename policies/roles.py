"""The portal's roles: Django groups with their permissions, and who may do what.

One place for role rules: views, templates (through the context processor),
the data migration and ``seed_demo`` all read them from here.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

REPS = "Reps"
APPROVERS = "Approvers"
POLICY_ADMINS = "Policy admins"

FILE_PERMISSION = "requests.add_exceptionrequest"
DECIDE_PERMISSION = "requests.decide_exceptionrequest"
ANALYSIS_PERMISSION = "policies.view_analysis"


# (app_label, codename) per group. Reps file; approvers also decide and read the
# analysis; policy admins edit everything in policies/ and read all requests.
GROUP_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    REPS: [("requests", "add_exceptionrequest"), ("requests", "view_exceptionrequest")],
    APPROVERS: [
        ("requests", "add_exceptionrequest"),
        ("requests", "view_exceptionrequest"),
        ("requests", "decide_exceptionrequest"),
        ("policies", "view_analysis"),
    ],
    POLICY_ADMINS: [
        ("requests", "view_exceptionrequest"),
        ("requests", "view_historicalexceptionrequest"),
        ("requests", "view_customer"),
        ("requests", "view_historicalcustomer"),
        ("requests", "view_delegation"),
        ("requests", "view_historicaldelegation"),
        ("policies", "view_analysis"),
        # Webhooks are registered in admin by policy admins (requests/webhooks.py).
        ("requests", "add_webhookendpoint"),
        ("requests", "change_webhookendpoint"),
        ("requests", "view_webhookendpoint"),
        ("requests", "delete_webhookendpoint"),
        ("requests", "view_webhookdelivery"),
        ("requests", "change_webhookdelivery"),
    ]
    + [
        (app, f"{action}_{model}")
        for app, model in [
            ("policies", "problemtype"),
            ("policies", "policy"),
            ("policies", "control"),
            ("policies", "exceptiontier"),
            ("policies", "repright"),
            ("policies", "approverlevel"),
            ("policies", "businesscalendar"),
            ("policies", "holiday"),
        ]
        for action in ("add", "change", "view", "delete")
        if not (model == "policy" and action == "delete")
    ]
    + [
        ("policies", f"view_historical{model}")
        for model in (
            "problemtype",
            "policy",
            "control",
            "exceptiontier",
            "repright",
            "approverlevel",
            "businesscalendar",
            "holiday",
        )
    ],
}


def ensure_groups(*, group_model, permission_model) -> None:
    """Create the role groups with their permissions; idempotent. Takes the models so that the
    data migration (historical models) and the test suite (after a flush) share it.

    A permission whose model a later migration creates is skipped here: that migration calls this again
    (requests 0016_api for the webhook models)."""
    for group_name, perms in GROUP_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=group_name)
        found = []
        for app, codename in perms:
            permission = permission_model.objects.filter(content_type__app_label=app, codename=codename).first()
            if permission is not None:
                found.append(permission)
        group.permissions.add(*found)


def can_file(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and user.has_perm(FILE_PERMISSION)


def can_decide(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and user.has_perm(DECIDE_PERMISSION)


def can_view_analysis(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and user.has_perm(ANALYSIS_PERMISSION)


def can_use_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and user.is_active and user.is_staff
