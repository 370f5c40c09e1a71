"""Forms whose fields are copied lightly (exceptions_portal.fields.copied_lightly): each form still owns what
Django's deep copy gives it, and the class's fields never change."""

from __future__ import annotations

import copy

import pytest
from django import forms

from exceptions_portal.fields import copied_lightly
from requests.forms import ExceptionRequestForm


class Splitter(forms.MultiWidget):
    def decompress(self, value):
        return value.split(",") if value else [None, None]


@copied_lightly
class Sample(forms.Form):
    name = forms.CharField(max_length=10, widget=forms.TextInput(attrs={"class": "a"}))
    kind = forms.ChoiceField(choices=[("x", "X"), ("y", "Y")], widget=forms.RadioSelect)
    pair = forms.CharField(widget=Splitter(widgets=[forms.TextInput, forms.TextInput]), required=False)


def _own(first, second, path: str) -> None:
    a, b = first, second
    for name in path.split("."):
        a, b = getattr(a, name), getattr(b, name)
    assert a == b and a is not b, path


@pytest.mark.parametrize("form_class", [Sample, ExceptionRequestForm])
def test_each_form_owns_its_fields_as_after_a_deep_copy(db, form_class):
    # What a form's __init__ starts from (before it sets anything of its own).
    first, second = copy.deepcopy(form_class.base_fields), copy.deepcopy(form_class.base_fields)
    for name, field in form_class.base_fields.items():
        one, other, django = first[name], second[name], copy.deepcopy(field)
        assert type(one) is type(field) and one is not field and one is not other
        assert set(vars(one)) == set(vars(django)), name
        assert type(one.widget) is type(field.widget) and one.widget is not field.widget
        _own(one, field, "widget.attrs")
        _own(one, field, "error_messages")
        _own(one, field, "validators")
        if isinstance(field, forms.ModelChoiceField):
            assert one.queryset is not field.queryset and one.queryset.query is not field.queryset.query
            assert one.widget.choices.field is one  # its options come from its own queryset
        elif isinstance(field, forms.ChoiceField):
            _own(one, field, "_choices")
            _own(one, field, "widget._choices")


def test_changing_one_forms_field_changes_no_other_form_nor_the_class():
    first, second = Sample(), Sample()
    first.fields["name"].widget.attrs["class"] = "changed"
    first.fields["name"].error_messages["required"] = "changed"
    first.fields["name"].validators.append(lambda value: None)
    first.fields["kind"].choices = [("z", "Z")]
    first.fields["kind"].widget.attrs["data-x"] = "1"
    for form in (second, Sample()):
        assert form.fields["name"].widget.attrs == {"class": "a", "maxlength": "10"}
        assert form.fields["name"].error_messages["required"] == "This field is required."
        assert len(form.fields["name"].validators) == 2  # max length, no NUL characters
        assert list(form.fields["kind"].choices) == [("x", "X"), ("y", "Y")]
        assert list(form.fields["kind"].widget.choices) == [("x", "X"), ("y", "Y")]
        assert "data-x" not in form.fields["kind"].widget.attrs
    assert Sample.base_fields["name"].widget.attrs == {"class": "a", "maxlength": "10"}


def test_a_widget_with_a_copy_of_its_own_is_deep_copied_as_usual():
    first, second = Sample(), Sample()
    inner = first.fields["pair"].widget.widgets
    assert inner[0] is not second.fields["pair"].widget.widgets[0]
    assert inner[0] is not Sample.base_fields["pair"].widget.widgets[0]


def test_a_lightly_copied_form_validates_and_renders_as_before():
    form = Sample({"name": "Ann", "kind": "y", "pair_0": "a", "pair_1": "b"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["kind"] == "y"
    assert 'class="a"' in str(form["name"]) and 'value="y"' in str(form["kind"])
    assert not Sample({"name": "Ann", "kind": "nope"}).is_valid()
