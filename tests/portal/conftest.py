"""Fixtures of the project-wide tests (the URL walk, the permission matrix, the navigation)."""

from __future__ import annotations

import pytest

from tests.urlwalk import build_world


@pytest.fixture
def world(policy, rep, rep_with_right, manager_low, manager_high, director, admin_user):
    """One object of every kind behind the portal's URLs, and a logged-in client per role (tests/urlwalk.py):
    what the URL walk, the permission matrix and the navigation test visit."""
    return build_world(
        policy=policy,
        rep=rep,
        rep_with_right=rep_with_right,
        manager_low=manager_low,
        manager_high=manager_high,
        director=director,
        admin_user=admin_user,
    )
