"""People as the portal names them, and the user scheduled jobs act as."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser


def display_name(user: AbstractBaseUser) -> str:
    """A person's full name, or their username when they have none: the one way the portal names people."""
    return user.get_full_name() or user.get_username()


def system_user() -> AbstractBaseUser:
    """The user scheduled jobs act as in the audit trail."""
    user, _ = get_user_model().objects.get_or_create(
        username=settings.SYSTEM_USERNAME,
        defaults={"first_name": "Scheduled", "last_name": "jobs", "is_active": False},
    )
    return user
