"""Headers on every response: the Content-Security-Policy, Permissions-Policy, and
``Cache-Control: private, no-store`` wherever a logged-in person sees customer data."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.conftest import facts

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return {part.split()[0]: " ".join(part.split()[1:]) for part in header.split(";") if part.strip()}


def test_the_csp_is_strict(client):
    policy = directives(client.get(reverse("login")))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval', no nonce needed
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["form-action"] == "'self'"
    assert policy["object-src"] == "'none'"


def test_permissions_policy_turns_off_what_the_portal_never_uses(client, rep):
    for response in (client.get(reverse("login")), client.get("/admin/login/")):
        header = response.headers["Permissions-Policy"]
        for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
            assert feature in header


def no_store(response) -> bool:
    values = {part.strip() for part in response.headers.get("Cache-Control", "").split(",")}
    return {"private", "no-store"} <= values


def test_every_page_of_a_logged_in_person_is_private_and_not_stored(client, rep, admin_user, manager_low, policy):
    from requests.services import exception_request_file

    filed = exception_request_file(rep=rep, facts=facts(policy))
    client.force_login(rep)
    for url in (
        reverse("requests:new"),
        reverse("requests:mine"),
        reverse("requests:detail", args=[filed.pk]),
        reverse("requests:notifications"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert no_store(response), (url, response.headers.get("Cache-Control"))
    # A page that refuses (403, 404) is not cached either.
    assert no_store(client.get(reverse("requests:queue")))
    client.force_login(manager_low)
    export = client.get(reverse("policies:analysis"), {"export": "requests"})
    assert export.status_code == 200 and no_store(export)
    client.force_login(admin_user)
    assert no_store(client.get("/admin/requests/exceptionrequest/"))


def test_static_files_keep_their_own_caching(client, rep):
    client.force_login(rep)
    response = client.get("/static/portal/portal.css")
    assert response.status_code == 200
    assert not no_store(response)


def test_no_template_has_an_inline_script_or_style_attribute():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "templates"
    offenders = []
    for template in root.rglob("*.html"):
        if template.relative_to(root).parts[:2] == ("requests", "email"):
            continue  # an email's HTML is read by mail clients, not served under the portal's CSP
        text = template.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text):
            offenders.append(f"{template}: inline <script>")
        if re.search(r"\sstyle=|<style\b|\son[a-z]+=", text):
            offenders.append(f"{template}: inline style or event handler")
    assert not offenders, offenders
