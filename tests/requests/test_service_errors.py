"""The services as a package: every refusal is an ExceptionRequestError (views, the email landing page and
the API catch that and show its sentence), and ``requests.services`` still offers every public name."""

from __future__ import annotations

import inspect
import pkgutil
from importlib import import_module

import pytest
from django.contrib.auth.models import AnonymousUser

from requests import services
from requests.api.problems import problem_exception_handler
from requests.authority import Standing, authority_at
from requests.notifications import each_once
from requests.services import errors

REFUSALS = [
    value
    for value in vars(errors).values()
    if inspect.isclass(value) and value.__module__ == errors.__name__ and value is not errors.ExceptionRequestError
]


def test_there_is_a_refusal_per_kind():
    names = {refusal.__name__ for refusal in REFUSALS}
    assert {"AlreadyDecided", "NotAssigned", "AboveAuthority", "FilingRefused", "SelfDealing"} <= names
    assert {"NotWithdrawable", "DelegationRefused", "CustomerNameConflict", "InvalidInput", "NotYours"} <= names


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda refusal: refusal.__name__)
def test_every_refusal_is_an_exception_request_error_offered_by_the_package(refusal):
    assert issubclass(refusal, services.ExceptionRequestError)
    assert getattr(services, refusal.__name__) is refusal


def test_every_public_function_of_a_service_module_is_offered_by_the_package():
    public = {}
    for module_info in pkgutil.iter_modules(services.__path__):
        if module_info.name.startswith("_"):
            continue
        module = import_module(f"{services.__name__}.{module_info.name}")
        for name, value in vars(module).items():
            defined_here = getattr(value, "__module__", None) == module.__name__
            if defined_here and not name.startswith("_") and (inspect.isfunction(value) or inspect.isclass(value)):
                public[name] = value
    assert "exception_request_decide" in public and "FilingFacts" in public
    assert {name: getattr(services, name, None) for name in public} == public
    assert sorted(services.__all__) == sorted({*public, "TIMER_RESOLUTION"})


@pytest.mark.parametrize(
    ("refusal", "status"),
    [
        (services.FilingRefused(("Nobody may approve it.",)), 422),
        (services.AlreadyDecided("EX-1 was already approved."), 409),
        (services.NotAssigned("EX-1 is not assigned to you."), 409),
        (services.InvalidInput("A decision needs a justification."), 409),
    ],
)
def test_the_api_answers_each_refusal_with_its_sentence(rf, refusal, status):
    request = rf.post("/api/v1/requests/1/decide")
    request.user = AnonymousUser()
    response = problem_exception_handler(refusal, {"request": request})
    assert (response.status_code, response.data["detail"]) == (status, str(refusal))


@pytest.mark.parametrize(
    ("rep", "stands_in_for", "self_dealing"),
    [(10, (), True), (11, ((11, "Alex Kim"),), True), (12, (), False)],
)
def test_a_refusal_for_segregation_of_duties_says_so(rep, stands_in_for, self_dealing):
    authority = authority_at(
        Standing(user_id=10, own=(), stands_in_for=stands_in_for), policy_id=1, level=1, rep_id=rep
    )
    assert (authority.may_act, authority.self_dealing) == (False, self_dealing)


class Person:
    def __init__(self, pk: int, name: str) -> None:
        self.pk, self.name = pk, name


def test_each_person_is_told_once_in_first_seen_order():
    alex, dana, alex_again = Person(1, "Alex"), Person(2, "Dana"), Person(1, "Alex (group)")
    assert [person.name for person in each_once([alex, dana, alex_again, dana])] == ["Alex", "Dana"]
