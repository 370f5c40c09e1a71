"""The project as a whole: the requests app, the roles, deploy settings and migrations."""

from __future__ import annotations

import importlib
import io
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from exceptions_portal import roles

BASE_DIR = Path(__file__).resolve().parents[2]

# pytest-env sets these for the test client; a production start must not inherit them.
TEST_ONLY_VARIABLES = ("SECURE_SSL_REDIRECT", "WHITENOISE_USE_FINDERS", "CELERY_TASK_ALWAYS_EAGER", "EMAIL_URL")


def manage(*args: str, tmp_path: Path, **env_overrides: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in TEST_ONLY_VARIABLES}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["VAR_DIR"] = str(tmp_path / "var")  # keep the shared var/ folder out of it
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# The requests app shadows the PyPI package on purpose


def test_import_requests_is_this_projects_app():
    import requests

    assert Path(requests.__file__).resolve() == BASE_DIR / "requests" / "__init__.py"
    assert not hasattr(requests, "get")


def test_import_requests_in_a_fresh_interpreter_is_this_projects_app(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import requests, sys; print(requests.__file__); print(hasattr(requests, 'get'))"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    file_line, has_get = result.stdout.split()
    assert Path(file_line).resolve() == BASE_DIR / "requests" / "__init__.py"
    assert has_get == "False"


# Roles


def group_permissions(name: str) -> set[tuple[str, str]]:
    group = Group.objects.get(name=name)
    return set(group.permissions.values_list("content_type__app_label", "codename"))


@pytest.mark.django_db
def test_the_three_role_groups_exist():
    names = set(
        Group.objects.filter(name__in=[roles.REPS, roles.APPROVERS, roles.POLICY_ADMINS]).values_list("name", flat=True)
    )
    assert names == {"Reps", "Approvers", "Policy admins"}


# Who may do what, written out in full: a change of roles changes this table, exceptions_portal/roles.py and a
# new data migration (the frozen tables the migrations applied are compared with it below).
ROLE_TABLE = {
    "Reps": {"requests.add_exceptionrequest", "requests.view_exceptionrequest"},
    "Approvers": {
        "requests.add_exceptionrequest",
        "requests.view_exceptionrequest",
        "requests.decide_exceptionrequest",
        "policies.view_analysis",
    },
    "Policy admins": {
        "requests.view_exceptionrequest",
        "requests.view_historicalexceptionrequest",
        "requests.view_customer",
        "requests.view_historicalcustomer",
        "requests.view_delegation",
        "requests.view_historicaldelegation",
        "policies.view_analysis",
        "policies.add_problemtype",
        "policies.change_problemtype",
        "policies.view_problemtype",
        "policies.delete_problemtype",
        "policies.view_historicalproblemtype",
        "policies.add_policy",
        "policies.change_policy",
        "policies.view_policy",
        "policies.view_historicalpolicy",
        "policies.add_control",
        "policies.change_control",
        "policies.view_control",
        "policies.delete_control",
        "policies.view_historicalcontrol",
        "policies.add_exceptiontier",
        "policies.change_exceptiontier",
        "policies.view_exceptiontier",
        "policies.delete_exceptiontier",
        "policies.view_historicalexceptiontier",
        "policies.add_repright",
        "policies.change_repright",
        "policies.view_repright",
        "policies.delete_repright",
        "policies.view_historicalrepright",
        "policies.add_approverlevel",
        "policies.change_approverlevel",
        "policies.view_approverlevel",
        "policies.delete_approverlevel",
        "policies.view_historicalapproverlevel",
        "policies.add_businesscalendar",
        "policies.change_businesscalendar",
        "policies.view_businesscalendar",
        "policies.delete_businesscalendar",
        "policies.view_historicalbusinesscalendar",
        "policies.add_holiday",
        "policies.change_holiday",
        "policies.view_holiday",
        "policies.delete_holiday",
        "policies.view_historicalholiday",
        # Webhook endpoints are registered in admin by policy admins; deliveries are read and replayed.
        "requests.add_webhookendpoint",
        "requests.change_webhookendpoint",
        "requests.view_webhookendpoint",
        "requests.delete_webhookendpoint",
        "requests.view_webhookdelivery",
        "requests.change_webhookdelivery",
    },
}


def frozen_migration_roles() -> dict[str, set[str]]:
    """The roles as the data migrations wrote them: 0002_roles's table, and the webhook permissions of 0016_api."""
    initial = importlib.import_module("requests.migrations.0002_roles").ROLES
    webhooks = importlib.import_module("requests.migrations.0016_api").WEBHOOK_PERMISSIONS
    table = {group: {f"{app}.{codename}" for app, codename in perms} for group, perms in initial.items()}
    table["Policy admins"] |= {f"{app}.{codename}" for app, codename in webhooks}
    return table


def test_the_frozen_migrations_give_the_role_table():
    assert frozen_migration_roles() == ROLE_TABLE


@pytest.mark.django_db
@pytest.mark.parametrize("group", ["Reps", "Approvers", "Policy admins"])
def test_group_permissions_are_the_role_table(group):
    """The groups the migrations created, and the roles module the suite's fixtures use, both match the table."""
    assert {f"{app}.{codename}" for app, codename in group_permissions(group)} == ROLE_TABLE[group]
    assert {f"{app}.{codename}" for app, codename in roles.GROUP_PERMISSIONS[group]} == ROLE_TABLE[group]


def test_policy_admins_may_not_delete_a_policy():
    # Policies are deactivated, never deleted: their history and the requests filed under them stay.
    assert "policies.delete_policy" not in ROLE_TABLE["Policy admins"]
    assert len(ROLE_TABLE["Policy admins"]) == 52


def test_reps_can_file_but_not_decide(rep):
    assert rep.has_perm("requests.add_exceptionrequest") is True
    assert rep.has_perm("requests.decide_exceptionrequest") is False
    assert rep.has_perm("policies.change_policy") is False
    assert rep.has_perm("policies.view_analysis") is False


def test_approvers_can_decide_and_read_the_analysis(manager_low):
    assert manager_low.has_perm("requests.decide_exceptionrequest") is True
    assert manager_low.has_perm("policies.view_analysis") is True
    assert manager_low.has_perm("policies.change_policy") is False


def test_policy_admins_can_change_policies_but_not_decide(admin_user):
    assert admin_user.has_perm("policies.change_policy") is True
    assert admin_user.has_perm("policies.change_exceptiontier") is True
    assert admin_user.has_perm("policies.delete_policy") is False
    assert admin_user.has_perm("requests.decide_exceptionrequest") is False
    assert admin_user.has_perm("requests.change_exceptionrequest") is False


def test_outsider_has_no_permission(outsider):
    assert outsider.get_all_permissions() == set()


# Settings


def deploy_check(tmp_path: Path, **env_overrides: str) -> subprocess.CompletedProcess[str]:
    secret_key = secrets.token_urlsafe(45)
    assert len(secret_key) == 60
    env = {"DEBUG": "false", "SECRET_KEY": secret_key, "ALLOWED_HOSTS": "portal.example.com", **env_overrides}
    return manage("check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path, **env)


def test_deploy_check_passes_with_production_settings(tmp_path):
    result = deploy_check(tmp_path)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_deploy_check_passes_with_hsts_preload_on(tmp_path):
    result = deploy_check(tmp_path, SECURE_HSTS_PRELOAD="true")

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_settings_refuse_to_start_without_secret_key_when_debug_is_off(tmp_path):
    result = manage("check", tmp_path=tmp_path, DEBUG="false", SECRET_KEY="")

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_settings_start_without_secret_key_in_debug(tmp_path):
    result = manage("check", tmp_path=tmp_path, DEBUG="true", SECRET_KEY="")

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("name", "value"), [("DEBUG", "maybe"), ("SESSION_COOKIE_SECURE", "ture")])
def test_settings_refuse_a_bad_boolean(tmp_path, name, value):
    result = manage("check", tmp_path=tmp_path, **{"DEBUG": "false", "SECRET_KEY": "x" * 60, name: value})

    assert result.returncode != 0
    assert f"{name}={value!r} is not a boolean (use true/false)" in result.stderr


def test_settings_refuse_a_bad_whole_number(tmp_path):
    result = manage("check", tmp_path=tmp_path, DEBUG="false", SECRET_KEY="x" * 60, SECURE_HSTS_SECONDS="a year")

    assert result.returncode != 0
    assert "SECURE_HSTS_SECONDS='a year' is not a whole number" in result.stderr


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=io.StringIO())
    except SystemExit as exit_:  # makemigrations --check exits 1 when a migration is missing
        pytest.fail(f"makemigrations --check found changes (exit {exit_.code}):\n{out.getvalue()}")
    assert out.getvalue().strip() == "No changes detected"
