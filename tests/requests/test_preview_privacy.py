"""The live routing preview sends only what routing reads, by POST: no free text, no names and
no CSRF token in any URL (access logs and proxies keep URLs). htmx loads only where it is used."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from requests.forms import PreviewForm
from requests.models import ExceptionRequest
from tests.conftest import form_data

pytestmark = pytest.mark.django_db


def form_tag(page: str) -> str:
    return re.search(r'<form[^>]*id="request-form"[^>]*>', page, re.S).group(0)


def test_the_form_posts_only_the_routing_fields_to_the_preview(client, rep, policy):
    client.force_login(rep)
    tag = form_tag(client.get(reverse("requests:new")).text)
    assert "hx-get" not in tag
    assert f'hx-post="{reverse("requests:preview")}"' in tag
    params = re.search(r'hx-params="([^"]*)"', tag).group(1).split(",")
    assert params == list(PreviewForm.ROUTING_FIELDS)
    for private in ("situation", "resolution_requested", "customer_name", "alternative_offered", "csrfmiddlewaretoken"):
        assert private not in params
    # The CSRF token goes in a header, not in the parameters.
    assert "X-CSRFToken" in unescape(tag)


def test_the_preview_answers_a_post_with_the_token_in_a_header(rep, policy):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep)
    page = client.get(reverse("requests:new")).text
    token = re.search(r'"X-CSRFToken": "([^"]+)"', unescape(form_tag(page))).group(1)
    routing_only = {
        name: value for name, value in form_data(policy, amount="300").items() if name in PreviewForm.ROUTING_FIELDS
    }
    response = client.post(reverse("requests:preview"), routing_only, headers={"X-CSRFToken": token})
    assert response.status_code == 200
    assert 'data-outcome="pending"' in response.text
    assert client.post(reverse("requests:preview"), routing_only).status_code == 403  # no token: refused
    assert ExceptionRequest.objects.count() == 0


def test_htmx_is_loaded_only_on_the_filing_form(client, rep, policy):
    client.force_login(rep)
    assert "htmx.min.js" in client.get(reverse("requests:new")).text
    for url in (reverse("requests:mine"), reverse("requests:notifications")):
        assert "htmx.min.js" not in client.get(url).text, url
