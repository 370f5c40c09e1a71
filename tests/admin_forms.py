"""What a browser would submit from a Django admin form, built from the admin's own form class."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.forms.models import model_to_dict
from django.test import RequestFactory
from django.utils import timezone


def full_post(instance, admin_user, field: str, forged: str) -> dict:
    """Everything the admin's form for this model would submit, with one field forged: a valid form."""
    model_admin = admin.site._registry[type(instance)]
    request = RequestFactory().get("/")
    request.user = admin_user
    form_class = model_admin.get_form(request, instance)
    data: dict = {}
    for name, form_field in form_class.base_fields.items():
        value = form_field.prepare_value(model_to_dict(instance).get(name))
        if isinstance(form_field, forms.SplitDateTimeField):
            local = timezone.localtime(value) if value else None
            data[f"{name}_0"] = local.date().isoformat() if local else ""
            data[f"{name}_1"] = local.strftime("%H:%M:%S") if local else ""
        elif isinstance(form_field, forms.MultipleChoiceField | forms.ModelMultipleChoiceField):
            data[name] = [str(v) for v in value or []]
        elif isinstance(form_field, forms.JSONField):
            data[name] = json.dumps(value)
        elif isinstance(form_field, forms.BooleanField):
            if value:
                data[name] = "on"
        else:
            data[name] = "" if value is None else str(value)
    data[field] = forged
    return data
