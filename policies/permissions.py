"""Each signed-in person's permissions, kept per process under the rules version instead of read (two queries)
at every request.

Django's ModelBackend reads a user's permissions (their own and their groups') once per user object, that is
once per request, and keeps them on the object (``_perm_cache``). ``CachedPermissionsMiddleware`` puts there
what this process read for the same user under the same rules version (``RulesVersion``, read once per
request, policies.selectors.rules_stamp), so a request reads them only after something changed them: the
rules version is renewed by any change to a user, a group, a permission, a content type, and to who belongs
to which group and holds which permission (policies.signals). Whether the user is active and a superuser comes
with the user's row, kept the same way (below).

``KeptUserBackend`` does the same for the signed-in person's own row, which every request reads: kept under the
same version, which any save or deletion of a user renews (a password, ``is_active``, a name; not a login's
``last_login`` alone, so ``request.user.last_login`` may be that of an earlier login: nothing reads it there).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS
from django.http import HttpRequest, HttpResponse

from policies.selectors import kept_per_rules_version


def attach_cached_permissions(user: AbstractBaseUser) -> None:
    """Give ``user`` (a signed-in person, for this request) their permissions as ModelBackend would read them:
    "app_label.codename" of every permission they hold directly or through a group."""
    if not user.is_active or hasattr(user, "_perm_cache"):
        return  # an inactive user has none (ModelBackend answers so without reading them)
    user._perm_cache = kept_per_rules_version(
        ("permissions", user.pk), lambda: frozenset(ModelBackend().get_all_permissions(user))
    )


class CachedPermissionsMiddleware:
    """After AuthenticationMiddleware: the signed-in user's permissions from this process's cache."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            attach_cached_permissions(user)
        return self.get_response(request)


class KeptUserBackend(ModelBackend):
    """Django's ModelBackend (sign-in, permissions), with the signed-in person read per process under the rules
    version rather than at every request. Each request gets its own user object, built from the kept row.

    Sessions name the backend that signed them in: policies migration 0007 moved those of ModelBackend here."""

    def get_user(self, user_id):
        User = get_user_model()
        try:
            pk = User._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        row = kept_per_rules_version(("user", pk), lambda: _user_row(pk))
        if row is None:
            return None
        user = User.from_db(DEFAULT_DB_ALIAS, _user_columns(), row)
        return user if self.user_can_authenticate(user) else None


@cache
def _user_columns() -> tuple[str, ...]:
    return tuple(field.attname for field in get_user_model()._meta.concrete_fields)


def _user_row(pk) -> tuple | None:
    return get_user_model()._default_manager.filter(pk=pk).values_list(*_user_columns()).first()
