"""The audit trail as people read it: one place for the portal's request history and the admin's history pages."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import models

from exceptions_portal import formatting
from exceptions_portal.formatting import money
from exceptions_portal.people import display_name


def history_user_name(user: AbstractBaseUser | None) -> str:
    """Who made a history entry."""
    return display_name(user) if user is not None else "—"


def history_value(field: models.Field, value: object) -> str:
    """One value of a history row: a choice by its label (a request's status, a tier's kind: the model field's
    own choices), a user by name, a time in the portal's format in the active zone, money with cents."""
    if value in (None, "", [], {}):
        return "—"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, datetime):
        return formatting.local(value, formatting.TEXT_DATE_TIME)
    if field.is_relation:
        related = field.related_model._base_manager.filter(pk=value).first()
        if related is None:
            return f"#{value} (deleted)"
        if isinstance(related, get_user_model()):
            return display_name(related)
        return str(related)
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
