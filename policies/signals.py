"""Any change to what routing reads, or to anyone's permissions, gives the policy rules a new version, so no
process keeps stale rules (policies.selectors) nor stale permissions (policies.permissions)."""

from __future__ import annotations

from uuid import uuid4

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.signals import request_finished, request_started
from django.db.models import Model
from django.db.models.signals import m2m_changed, post_delete, post_save

from policies import selectors
from policies.models import (
    ApproverLevel,
    BusinessCalendar,
    Control,
    ExceptionTier,
    Holiday,
    Policy,
    ProblemType,
    RepRight,
    RulesVersion,
)


def rules_changed(**kwargs) -> None:
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # a login changes nothing routing reads
    # A random stamp rather than a counter: a rolled-back transaction (a test, a failed save) can never
    # bring an old number back for different rules.
    stamp = uuid4().hex
    if not RulesVersion.objects.filter(pk=1).update(stamp=stamp):
        RulesVersion.objects.get_or_create(pk=1, defaults={"stamp": stamp})
    selectors.forget_request_stamp()


def memberships_changed(*, action: str, **kwargs) -> None:
    """Group memberships and permissions decide who is an approver and who holds a group's rows."""
    if action in ("post_add", "post_remove", "post_clear"):
        rules_changed()


def renew_rules_on(*models: type[Model]) -> None:
    """Any row of ``models`` saved or deleted renews the rules version (also for the apps above the rulebook,
    whose data is kept under it: requests.apps)."""
    for model in models:
        post_save.connect(rules_changed, sender=model, dispatch_uid=f"rules-save-{model.__name__}")
        post_delete.connect(rules_changed, sender=model, dispatch_uid=f"rules-delete-{model.__name__}")


def connect() -> None:
    # Approver levels carry their holder's name (user or group) into routing's explanation. Permissions and their
    # content types (a permission's name is "app_label.codename") only for the permissions kept per user.
    rulebook = (Policy, ProblemType, Control, ExceptionTier, ApproverLevel, RepRight, BusinessCalendar, Holiday)
    User = get_user_model()
    renew_rules_on(*rulebook, Group, Permission, ContentType, User)
    # user.groups.add(...) and the like send no post_save: without these, a cached policy would keep counting
    # (or not counting) a group's members as who may approve until some other change.
    for through in (User.groups.through, User.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(memberships_changed, sender=through, dispatch_uid=f"rules-m2m-{through.__name__}")
    # The rules version read once per request (selectors.rules_stamp).
    request_started.connect(selectors.request_started, dispatch_uid="rules-request-started")
    request_finished.connect(selectors.request_finished, dispatch_uid="rules-request-finished")
