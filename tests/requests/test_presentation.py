"""How pages name people and write dates: one filter and one set of named formats for every template."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.template import Context, Template
from django.utils import formats, timezone

from exceptions_portal import formatting
from exceptions_portal.formats.en import formats as named_formats


def render(source: str, **context) -> str:
    return Template("{% load portal %}" + source).render(Context(context))


@pytest.mark.parametrize(
    ("first", "last", "shown"), [("Sam", "Patel", "Sam Patel"), ("", "", "spatel"), ("Sam", "", "Sam")]
)
def test_person_names_someone_by_full_name_or_else_username(first, last, shown):
    user = get_user_model()(username="spatel", first_name=first, last_name=last)
    assert render("{{ user|person }}", user=user) == shown


def test_person_of_nobody_is_empty():
    assert render("[{{ user|person }}]", user=None) == "[]"


def test_every_named_format_is_known_to_templates():
    constants = {name for name in vars(formatting) if name.isupper()}
    assert set(named_formats.__all__) == constants
    for name in constants:
        assert formats.get_format(name) == getattr(formatting, name), name


def test_templates_and_python_write_a_moment_alike():
    moment = datetime(2026, 12, 7, 14, 5, tzinfo=UTC)
    with timezone.override(ZoneInfo("America/New_York")):
        assert render('{{ moment|date:"DATE_TIME" }}', moment=moment) == "7 Dec 2026, 09:05"
        assert formatting.local(moment, formatting.DATE_TIME) == "7 Dec 2026, 09:05"
        assert formatting.local(moment, formatting.TEXT_WHEN) == "07 Dec 2026 at 09:05"
        assert formatting.local(moment, formatting.TEXT_TIME_ON_DAY) == "09:05 on 07 Dec"
        assert render('{{ moment|date:"WEEKDAY_DAY_TIME_ZONE" }}', moment=moment) == "Mon 7 Dec, 09:05 EST"
    assert formatting.local(date(2026, 9, 1), formatting.TEXT_DATE) == "01 Sep 2026"
    assert formatting.local(datetime(2026, 9, 1, 8, 0), formatting.TEXT_DATE_TIME) == "01 Sep 2026, 08:00"
