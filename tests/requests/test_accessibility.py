"""What people using a keyboard or a screen reader rely on, checked in the HTML (axe runs in test_e2e)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone


def test_every_page_has_a_skip_link_to_the_main_content(client, rep):
    client.force_login(rep)
    page = client.get(reverse("requests:mine")).content.decode()
    assert re.search(r'<a class="skip-link" href="#main">Skip to content</a>', page)
    assert '<main class="container pb-5" id="main" tabindex="-1">' in page


def test_the_active_navigation_link_is_the_current_page(client, rep):
    client.force_login(rep)
    page = client.get(reverse("requests:mine")).content.decode()
    assert 'class="nav-link active" aria-current="page" href="/requests/mine/"' in page
    assert page.count('aria-current="page"') == 1


def test_logout_from_a_link_asks_first_and_the_post_confirms(client, rep):
    client.force_login(rep)
    asked = client.get(reverse("logout"))
    assert asked.status_code == 200 and "Log out?" in asked.content.decode()
    assert "_auth_user_id" in client.session
    done = client.post(reverse("logout"), follow=True)
    assert "You have logged out." in done.content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_page_for_someone_logged_out_goes_to_login(client):
    assert client.get(reverse("logout")).url.startswith(reverse("login"))


def test_a_failed_login_is_announced_and_titled(client, rep):
    page = client.post(reverse("login"), {"username": "rep", "password": "wrong"}).content.decode()
    assert "<title>Error: Log in" in page
    assert re.search(r'role="alert" id="login-error">Please enter a correct username', page)


def test_analysis_from_and_to_apply_without_choosing_custom_dates(client, admin_user):
    client.force_login(admin_user)
    today = timezone.localdate()
    start = today - timedelta(days=3)
    response = client.get(
        reverse("policies:analysis"), {"period": "30", "start": start.isoformat(), "end": today.isoformat()}
    )
    assert response.context["period"].start == start and response.context["period"].end == today
    assert "(4 days)" in response.content.decode()


def test_analysis_tables_are_labelled_regions_with_a_column_per_tier_and_cause(client, admin_user, policy):
    client.force_login(admin_user)
    page = client.get(reverse("policies:analysis")).content.decode()
    assert 'tabindex="0" role="region" aria-label="Exceptions per policy (table)"' in page
    for header in ("Tier 1", "Tier 2 reward", "Tier 2 save", "Tier 3", "Beyond all tiers", "Cause: loyalty"):
        assert f'<th scope="col" class="text-end">{header}</th>' in page
    assert "Tiers 1 · 2r" not in page


@pytest.mark.parametrize("url", ["/requests/mine/", "/requests/new/", "/policies/analysis/", "/login/"])
def test_no_inline_script_or_style(client, admin_user, rep, url):
    client.force_login(admin_user if "analysis" in url else rep)
    page = client.get(url).content.decode()
    assert not re.search(r"<script(?![^>]*\b(src|type=\"application/json\")=?)[^>]*>", page)
    assert " style=" not in page


def test_admin_has_the_favicon_and_labelled_inline_inputs(client, admin_user, policy):
    client.force_login(admin_user)
    page = client.get(f"/admin/policies/policy/{policy.pk}/change/").content.decode()
    assert 'rel="icon" href="/static/portal/favicon.svg"' in page
    assert 'aria-label="Level, approver row 1"' in page
    assert 'aria-label="Delete approver, row 1"' in page
    assert 'aria-label="Name, control row 1"' in page
    assert 'aria-label="User, approver row 1"' in page
