"""The portal's roles: Django groups with their permissions, and who may do what.

One place for role rules: views, templates (through the context processor),
the data migration and ``seed_demo`` all read them from here.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Permission
from django.db.models import Q, QuerySet

REPS = "Reps"
APPROVERS = "Approvers"
POLICY_ADMINS = "Policy admins"

FILE_PERMISSION = "requests.add_exceptionrequest"
DECIDE_PERMISSION = "requests.decide_exceptionrequest"
ANALYSIS_PERMISSION = "policies.view_analysis"
# Every role holds it (reps, approvers, policy admins), a person in no group does not. It opens All
# requests, and it marks the people the portal notifies (reps of their requests, approvers of their
# queue, policy admins of alerts and flags), so it also opens the email preferences.
VIEW_PERMISSION = "requests.view_exceptionrequest"


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
    test suite (after a flush) and ``seed_demo`` share it. Migrations keep their own frozen copy
    (requests 0002_roles, 0016_api): a change of roles is a new data migration."""
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


def can_view_requests(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and user.has_perm(VIEW_PERMISSION)


def can_view_analysis(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and user.has_perm(ANALYSIS_PERMISSION)


def can_use_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and user.is_active and user.is_staff


def approvers(users: QuerySet) -> QuerySet:
    """The users among ``users`` who are approvers now: active, and holding the decide permission
    (directly, through a group, or as superuser). An approver row of anyone else counts for nothing:
    routing does not send them requests, and an out-of-office of theirs gives nothing."""
    app_label, codename = DECIDE_PERMISSION.split(".")
    decide = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    # A subquery, not joins on ``users``: a prefetch through a group's members joins the groups itself.
    holders = users.model._default_manager.filter(
        Q(is_superuser=True) | Q(user_permissions__in=decide) | Q(groups__permissions__in=decide)
    )
    return users.filter(is_active=True, pk__in=holders.values("pk"))


def is_approver(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and user.is_active and user.has_perm(DECIDE_PERMISSION)
