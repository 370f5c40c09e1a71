"""Form fields that answer any submitted id with a form error, never a 500.

SQLite stores integers in 64 bits and its driver raises ``OverflowError`` for a bigger Python
int, which Django's model choice fields would hand it straight from the request
(``?waived_controls=99999999999999999999``). An id outside the range of a 64-bit key cannot
name a row on any engine: it is an invalid choice before any query.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

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
