"""Every URL of the project, from the URL resolver, and the people who use them.

Shared by the walk with hostile values (tests/portal/test_walk_urls.py) and the permission matrix
(tests/portal/test_permission_matrix.py): a URL added to any urls.py (or a model registered in admin)
appears here without anyone listing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from urllib.parse import quote

from django.apps import apps
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from exceptions_portal import roles
from policies.models import BusinessCalendar, Holiday, Policy, ReviewFlag
from requests.models import Delegation, ExceptionRequest, Notification
from requests.services import exception_request_file
from tests.conftest import facts, make_user

_ROUTE_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
_UNNAMED_GROUP = re.compile(r"\(\[\^/\]\+\)")


@dataclass(frozen=True)
class Route:
    """One URL pattern: its name (``requests:detail``; the route itself when it has none), the
    pattern as text, and a template with a ``{param}`` per path parameter."""

    name: str
    pattern: str
    template: str
    params: tuple[str, ...]

    @property
    def key(self) -> str:
        return self.name if not self.name.endswith(":?") else f"{self.name[:-1]}{self.pattern}"

    def url(self, values: dict[str, str]) -> str:
        return "/" + self.template.format(**{name: quote(str(values[name]), safe="") for name in self.params})

    @property
    def admin_model(self):
        """The model an admin URL is about, or None."""
        match = re.match(r"admin/(\w+)/(\w+)/", self.pattern)
        if not match or not self.pattern.startswith("admin/"):
            return None
        try:
            return apps.get_model(match.group(1), match.group(2))
        except LookupError:
            return None


def _template(pattern: str) -> tuple[str, tuple[str, ...]]:
    params: list[str] = []

    def route_param(match: re.Match) -> str:
        params.append(match.group(2))
        return "{" + match.group(2) + "}"

    def named(match: re.Match) -> str:
        params.append(match.group(1))
        return "{" + match.group(1) + "}"

    counter = iter(range(10))

    def unnamed(match: re.Match) -> str:
        name = f"arg{next(counter)}"
        params.append(name)
        return "{" + name + "}"

    text = _ROUTE_PARAM.sub(route_param, pattern)
    text = _NAMED_GROUP.sub(named, text)
    text = _UNNAMED_GROUP.sub(unnamed, text)
    return text.replace("^", "").replace("$", ""), tuple(params)


def all_routes() -> list[Route]:
    def walk(patterns, prefix: str, namespace: str):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                inner = namespace + (f"{entry.namespace}:" if entry.namespace else "")
                yield from walk(entry.url_patterns, prefix + str(entry.pattern), inner)
            elif isinstance(entry, URLPattern):
                pattern = prefix + str(entry.pattern)
                template, params = _template(pattern)
                yield Route(f"{namespace}{entry.name or '?'}", pattern, template, params)

    return list(walk(get_resolver().url_patterns, "", ""))


# --------------------------------------------------------------------------- people

ROLES = [
    "anonymous",
    "inactive",
    "no_group",
    "rep",
    "rep_with_right",
    "approver_1",
    "approver_2",
    "stand_in",
    "policy_admin",
    "superuser",
]


@dataclass
class World:
    """The people of every role and one object of every kind, for the URLs' parameters."""

    users: dict[str, object]
    policy: Policy
    pending: ExceptionRequest
    granted: ExceptionRequest
    flag: ReviewFlag

    def client(self, role: str) -> Client:
        client = Client(raise_request_exception=False)
        user = self.users.get(role)
        if user is not None:
            client.force_login(user)
        return client

    def valid_values(self, route: Route) -> dict[str, str]:
        """Parameters that name existing objects, so the view does its real work."""
        values: dict[str, str] = {}
        model = route.admin_model
        for name in route.params:
            if name in ("object_id", "arg0", "id") and model is not None:
                values[name] = str(model._default_manager.order_by("pk").values_list("pk", flat=True).first())
            elif name == "arg1" and model is not None:
                obj = model._default_manager.order_by("pk").first()
                values[name] = str(obj.history.order_by("-history_id").values_list("history_id", flat=True).first())
            elif name == "content_type_id":
                values[name] = str(ContentType.objects.get_for_model(Policy).pk)
            elif name == "app_label":
                values[name] = "policies"
            elif name == "url":
                values[name] = "no-such-page/"
            elif route.name == "policies:flag_resolve":
                values[name] = str(self.flag.pk)
            elif route.name in ("requests:message", "requests:answer"):
                values[name] = str(self.granted.pk)
            elif route.name == "requests:customer":
                values[name] = str(self.pending.customer_id)
            elif route.name in ("api:policy",):
                values[name] = str(self.policy.pk)
            else:
                values[name] = str(self.pending.pk)
        if route.name == "admin:view_on_site":
            values["object_id"] = str(self.policy.pk)
        return values


def build_world(*, policy: Policy, rep, rep_with_right, manager_low, manager_high, director, admin_user) -> World:
    """One of everything: called inside a test (the database rolls back after it)."""
    inactive = make_user("inactive_rep", roles.REPS, is_active=False)
    no_group = make_user("nobody")
    stand_in = make_user("stand_in", roles.APPROVERS)
    superuser = make_user("root", is_staff=True, is_superuser=True)
    today = timezone.localdate()
    Delegation.objects.create(approver=manager_low, delegate=stand_in, starts_on=today, ends_on=today + timedelta(1))
    pending = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("200"), sentiment="unhappy"))
    granted = exception_request_file(rep=rep, facts=facts(policy, customer_ref="C-2", amount=Decimal("10")))
    flag = ReviewFlag.objects.create(
        policy=policy, cause="our_mistake", reason="twice", request_ids=[granted.pk], raised_at=timezone.now()
    )
    Notification.objects.create(user=rep, request=granted, kind=Notification.Kind.DECIDED, text="Decided")
    calendar = BusinessCalendar.objects.create(name="Office", working_days=[1, 2, 3, 4, 5])
    Holiday.objects.create(calendar=calendar, date=today, name="Holiday")
    Group.objects.get_or_create(name="Spare group")
    _axes_rows()
    users = {
        "inactive": inactive,
        "no_group": no_group,
        "rep": rep,
        "rep_with_right": rep_with_right,
        "approver_1": manager_low,
        "approver_2": director,
        "stand_in": stand_in,
        "policy_admin": admin_user,
        "superuser": superuser,
    }
    assert set(users) | {"anonymous"} == set(ROLES)
    assert pending.status == "pending", pending.status
    assert manager_high  # level 1 too: the pending request is theirs as well
    return World(users=users, policy=policy, pending=pending, granted=granted, flag=flag)


def _axes_rows() -> None:
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    fields = {
        "user_agent": "test",
        "ip_address": "10.0.0.1",
        "username": "someone",
        "http_accept": "*/*",
        "path_info": "/login/",
    }
    AccessAttempt.objects.create(failures_since_start=1, get_data="", post_data="", **fields)
    AccessLog.objects.create(**fields)
    AccessFailureLog.objects.create(locked_out=False, **fields)
