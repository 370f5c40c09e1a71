"""Every URL of the project (portal and admin, from the URL resolver), for every role, with a
fixed list of hostile values in every path parameter, every query parameter and every form field,
by GET and POST: no response is a 500 (nor an exception).

Query parameter names come from a fixed list plus whatever the page itself offers (filter links,
GET forms); form fields from the page's own forms, as a browser would submit them, each field
replaced by each hostile value in turn (admin forms: all fields at once per value, and each field
alone with the values that reach the database). Runs on SQLite and on PostgreSQL (CI's two legs).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl

import pytest

from tests.policies.test_admin import FormFields
from tests.urlwalk import ROLES, World, all_routes

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"  # past every engine's 64-bit integers
PATH_VALUES = ["0", HUGE, "abc", "-1", "1.5", "' OR '1'='1", "<script>", "..", "9" * 300, "２", "\u202e"]
QUERY_VALUES = [
    "",
    "abc",
    "-1",
    "0",
    HUGE,
    "1e400",
    "\x00",
    "' OR 1=1 --",
    "<script>x</script>",
    "9" * 300,
    "2026-02-30",
    "NaN",
    "２",
    "[]",
]
QUERY_VALUES_ADMIN = ["", "abc", "-1", HUGE]
QUERY_VALUES_PER_NAME = ["", HUGE]
PATH_VALUES_ADMIN = ["abc", HUGE, "0", "' OR '1'='1"]
FORM_VALUES = ["", "abc", "-1", HUGE, "1e400", "' OR 1=1 --", "x" * 5000, "2026-02-30", "NaN", "２"]
FORM_VALUES_ADMIN = ["", "abc", "-1", HUGE, "x" * 5000]
# Each field alone (in admin: each id or number field) with the values that reach a lookup or a parser.
FORM_VALUES_PER_FIELD = [HUGE, "abc", "-1"]
FORM_VALUES_PER_ADMIN_FIELD = [HUGE]
QUERY_NAMES = [
    "page",
    "p",
    "q",
    "o",
    "e",
    "all",
    "_popup",
    "_to_field",
    "_changelist_filters",
    "next",
    "export",
    "policy",
    "status",
    "tier",
    "level",
    "overdue",
    "problem_type",
    "preset",
    "start",
    "end",
    "app_label",
    "model_name",
    "field_name",
    "term",
]


class Walk:
    def __init__(self, world: World) -> None:
        self.world = world
        self.clients = {role: world.client(role) for role in ROLES}
        self.failures: list[str] = []
        self.count = 0

    def request(self, role: str, method: str, url: str, data: dict | None = None, *, note: str = "") -> object:
        client = self.clients[role]
        self.count += 1
        try:
            response = client.get(url, data or {}) if method == "GET" else client.post(url, data or {})
        except Exception as error:  # any exception is the finding
            self.failures.append(f"{role} {method} {url} {note}: {type(error).__name__}: {error}"[:400])
            return None
        if response.status_code >= 500:
            self.failures.append(f"{role} {method} {url} {note}: {response.status_code}"[:400])
        if "logout" in url and method == "POST":
            self.relogin(role)
        return response

    def relogin(self, role: str) -> None:
        self.clients[role] = self.world.client(role)


def page_query_names(html: str) -> set[str]:
    names = {key for href in re.findall(r'href="\?([^"]*)"', html) for key, _ in parse_qsl(href.replace("&amp;", "&"))}
    for form in re.findall(r'<form(?![^>]*method="post")[^>]*>(.*?)</form>', html, re.S | re.I):
        names.update(re.findall(r'name="([^"]+)"', form))
    return names - {"csrfmiddlewaretoken"}


def post_forms(html: str) -> list[tuple[str, dict[str, list[str]]]]:
    """(action, fields) for each POST form of the page, as a browser would submit it."""
    forms = []
    for index, match in enumerate(re.finditer(r'<form[^>]*method="post"[^>]*>', html, re.I)):
        tag = match.group(0)
        action = re.search(r'action="([^"]*)"', tag)
        marked = html[: match.start()] + tag.replace("<form", f'<form id="walk-form-{index}"', 1) + html[match.end() :]
        parser = FormFields(f"walk-form-{index}")
        parser.feed(marked)
        forms.append((action.group(1).replace("&amp;", "&") if action else "", parser.fields))
    return forms


@pytest.fixture
def quiet_request_log():
    # Thousands of refused requests log a warning each (and the admin's autocomplete a traceback).
    logger = logging.getLogger("django")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


def is_numeric_field(value: list[str]) -> bool:
    return len(value) == 1 and (value[0] == "" or value[0].replace(".", "", 1).isdigit())


# The walk in slices (every route in exactly one: the admin's and the portal's routes, dealt round-robin),
# so that pytest-xdist spreads them over its processes instead of one process walking alone for minutes.
SLICES = 4


def test_the_walk_sees_every_url():
    routes = all_routes()
    assert len(routes) > 100  # the admin's too
    assert any(route.pattern.startswith("admin/") for route in routes)


@pytest.mark.parametrize("part", ["admin", "portal"])
@pytest.mark.parametrize("index", range(SLICES))
def test_no_url_answers_any_role_or_hostile_input_with_a_500(part, index, quiet_request_log, world):
    walk = Walk(world)
    routes = [route for route in all_routes() if route.pattern.startswith("admin/") == (part == "admin")]
    routes = routes[index::SLICES]
    assert routes
    # Every role on every URL with real parameters, by GET and POST, is the permission matrix
    # (tests/portal/test_permission_matrix.py, which asserts each status, so no 500 either). Here the
    # hostile values go to the people who get past the permission checks: on the portal a rep
    # and the superuser (who holds every permission), in admin the superuser.
    deletions: list[tuple[str, str, dict]] = []
    for route in routes:
        admin = route.pattern.startswith("admin/")
        roles_here = ["superuser"] if admin else ["rep", "superuser"]
        valid = world.valid_values(route)

        # 1. Hostile path parameters (GET; and POST on the portal, where views differ by method).
        for name in route.params:
            for value in PATH_VALUES_ADMIN if admin else PATH_VALUES:
                values = {**valid, name: value}
                for role in roles_here:
                    walk.request(role, "GET", route.url(values))
                    if not admin:
                        walk.request(role, "POST", route.url(values))

        url = route.url(valid)
        for role in roles_here:
            page = walk.request(role, "GET", url)
            if page is not None and page.status_code == 403:
                # Refused before the view reads anything (the permission checks come first): hostile
                # values would only be refused the same way. The superuser gets in and takes them.
                continue
            html = page.content.decode(errors="replace") if page is not None and page.status_code == 200 else ""
            # 2. Hostile query parameters: the fixed names and the page's own, all at once for each
            # value, then each name alone with the values that reach a lookup or a parser.
            names = sorted(set(QUERY_NAMES) | page_query_names(html))
            for value in QUERY_VALUES if not admin else QUERY_VALUES_ADMIN:
                walk.request(role, "GET", url, dict.fromkeys(names, value), note=f"all={value[:20]!r}")
            if not admin or route.name.endswith("_changelist"):
                for name in names:
                    for value in QUERY_VALUES_PER_NAME:
                        walk.request(role, "GET", url, {name: value}, note=f"?{name}={value[:20]!r}")
            # 3. Hostile form fields, in the page's own POST forms as a browser submits them.
            for action, fields in post_forms(html):
                target = action or url
                if route.name.endswith("_delete") or "logout" in target:
                    deletions.append((role, target, fields))
                    continue
                base = {key: values for key, values in fields.items() if key != "csrfmiddlewaretoken"}
                for value in FORM_VALUES_ADMIN if admin else FORM_VALUES:
                    walk.request(role, "POST", target, dict.fromkeys(base, value), note=f"all fields={value[:20]!r}")
                for key in base:
                    if admin and not is_numeric_field(base[key]):
                        continue  # admin text fields: the all-at-once posts cover them
                    for value in FORM_VALUES_PER_ADMIN_FIELD if admin else FORM_VALUES_PER_FIELD:
                        walk.request(role, "POST", target, {**base, key: value}, note=f"{key}={value[:20]!r}")

    # 4. Last, the forms that delete or log out (they end what they touch).
    for role, target, fields in deletions:
        for value in FORM_VALUES_PER_FIELD:
            walk.request(role, "POST", target, dict.fromkeys(fields, value), note=f"all fields={value[:20]!r}")

    print(f"{walk.count} requests")
    assert not walk.failures, f"{len(walk.failures)} of {walk.count} requests failed:\n" + "\n".join(walk.failures[:80])
