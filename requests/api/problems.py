"""Errors as RFC 9457 problem details (``application/problem+json``), with the portal's own messages.

Every refusal a service raises (``ExceptionRequestError``) reaches the caller with the same sentence the
portal shows; DRF's own errors (validation, authentication, permission, throttling, 404) get the same shape.
"""

from __future__ import annotations

import math

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from requests.services import ExceptionRequestError, FilingRefused

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://exceptions-portal.example/problems/"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request's state does not allow this."
    default_code = "conflict"


def problem(*, status_code: int, slug: str, title: str, detail: str, instance: str = "", **extra: object) -> Response:
    body: dict[str, object] = {"type": PROBLEM_BASE + slug, "title": title, "status": status_code, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return Response(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def _flatten(detail) -> list[str]:
    if isinstance(detail, dict):
        return [
            f"{key}: {message}" if key != "non_field_errors" else message
            for key, messages in detail.items()
            for message in _flatten(messages)
        ]
    if isinstance(detail, list):
        return [message for item in detail for message in _flatten(item)]
    return [str(detail)]


def problem_exception_handler(exc: Exception, context: dict) -> Response | None:
    request = context.get("request")
    instance = request.path if request is not None else ""
    if isinstance(exc, FilingRefused):
        return problem(
            status_code=422,
            slug="filing-refused",
            title="Filing refused: nothing was saved",
            detail=str(exc),
            instance=instance,
            reasons=list(exc.reasons),
        )
    if isinstance(exc, ExceptionRequestError):
        return problem(
            status_code=409,
            slug="refused",
            title="Refused by a rule: nothing changed",
            detail=str(exc),
            instance=instance,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found, or not visible to you.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    headers = {
        key: value for key, value in response.items() if key.lower() in ("www-authenticate", "retry-after", "allow")
    }
    if isinstance(exc, exceptions.ValidationError):
        result = problem(
            status_code=400,
            slug="invalid",
            title="The input is not valid: nothing changed",
            detail=" ".join(_flatten(exc.detail)),
            instance=instance,
            errors=exc.detail,
        )
    elif isinstance(exc, exceptions.Throttled):
        wait = math.ceil(exc.wait) if exc.wait is not None else None
        detail = "Too many requests with this token."
        detail += f" Try again in {wait} second{'s' if wait != 1 else ''}." if wait is not None else " Try again later."
        result = problem(
            status_code=429,
            slug="throttled",
            title="Too many requests",
            detail=detail,
            instance=instance,
            retry_after=wait,
        )
    elif isinstance(exc, exceptions.APIException):
        titles = {
            401: ("unauthenticated", "Authentication needed"),
            403: ("forbidden", "Not allowed for your role"),
            404: ("not-found", "Not found"),
            405: ("method-not-allowed", "Method not allowed"),
            406: ("not-acceptable", "Not acceptable"),
            415: ("unsupported-media-type", "Unsupported media type"),
        }
        slug, title = titles.get(response.status_code, (exc.default_code, str(exc.default_detail)))
        result = problem(
            status_code=response.status_code,
            slug=slug.replace("_", "-"),
            title=title,
            detail=" ".join(_flatten(exc.detail)),
            instance=instance,
        )
    else:  # pragma: no cover - exception_handler only answers APIException, Http404 and PermissionDenied
        return response
    for key, value in headers.items():
        result[key] = value
    return result
