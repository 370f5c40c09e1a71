"""Form fields that answer any submitted id with a form error, never a 500; and forms whose fields are copied
for each form cheaply (``copied_lightly``).

SQLite stores integers in 64 bits and its driver raises ``OverflowError`` for a bigger Python
int, which Django's model choice fields would hand it straight from the request
(``?waived_controls=99999999999999999999``). An id outside the range of a 64-bit key cannot
name a row on any engine: it is an invalid choice before any query.
"""

from __future__ import annotations

import copy
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.widgets import ChoiceWidget

MAX_KEY = 2**63 - 1


def out_of_key_range(value: object) -> bool:
    """True for a value that parses as an integer no database key can hold."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return False  # not a number at all: Django's own checks refuse it
    return not -MAX_KEY - 1 <= number <= MAX_KEY


class SafeModelChoiceField(forms.ModelChoiceField):
    def to_python(self, value):
        if value not in self.empty_values and out_of_key_range(value):
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class SafeModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    def clean(self, value):
        if not self.required and not value:
            # Nothing chosen: an empty list, not Django's empty queryset, which builds and compiles a query each
            # time it is read (a filing reads it with every POST).
            return []
        return super().clean(value)

    def _check_values(self, value):
        for pk in value if isinstance(value, list | tuple) else [value]:
            if out_of_key_range(pk):
                raise ValidationError(
                    self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": pk}
                )
        return super()._check_values(value)


def copied_lightly(form_class: type[forms.BaseForm]) -> type[forms.BaseForm]:
    """Class decorator: each form of ``form_class`` gets its fields copied as Django's ``__deepcopy__`` of the
    fields and widgets copies them, without ``copy.deepcopy``'s machinery (a fifth of the time: the filing form
    spent more on copying its fields at every POST than on validating them). Each form still has fields, widgets,
    attrs, error messages, validators, choices lists and querysets of its own. A field or widget class with its
    own ``__deepcopy__`` (not Django's for a field, a choice field, a model choice field, a widget or a choice
    widget) is deep-copied as usual."""
    form_class.base_fields = _LightlyCopiedFields(form_class.base_fields)
    return form_class


class _LightlyCopiedFields(dict):
    def __deepcopy__(self, memo: dict) -> dict:
        return {name: _field_copy(field, memo) for name, field in self.items()}


def _shallow(obj: Any) -> Any:
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    return new


def _widget_copy(widget: forms.Widget, memo: dict) -> forms.Widget:
    kind = type(widget).__deepcopy__
    if kind is forms.Widget.__deepcopy__:
        new = _shallow(widget)
    elif kind is ChoiceWidget.__deepcopy__ and "_choices" in widget.__dict__:
        new = _shallow(widget)
        new._choices = copy.copy(widget._choices)  # normalised already: what the choices setter would store
    else:
        return copy.deepcopy(widget, memo)
    new.attrs = widget.attrs.copy()
    return new


def _field_copy(field: forms.Field, memo: dict) -> forms.Field:
    kind = type(field).__deepcopy__
    if kind not in (forms.Field.__deepcopy__, forms.ChoiceField.__deepcopy__, forms.ModelChoiceField.__deepcopy__):
        return copy.deepcopy(field, memo)
    new = _shallow(field)
    new.widget = _widget_copy(field.widget, memo)
    new.error_messages = field.error_messages.copy()
    new.validators = field.validators[:]
    if kind is forms.ChoiceField.__deepcopy__:
        new._choices = copy.copy(field._choices)  # a list of (value, label) pairs: the pairs never change
    elif kind is forms.ModelChoiceField.__deepcopy__ and field.queryset is not None:
        new.queryset = field.queryset  # a clone of it, and the new widget's choices drawn from it (the setter)
    return new
