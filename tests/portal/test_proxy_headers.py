"""X-Forwarded-Proto is believed only when TRUST_PROXY_HEADERS says the portal sits behind the
operator's own proxy: reached directly, a client could claim HTTPS and dodge the redirect."""

from __future__ import annotations

from tests.portal.test_project import manage

SHOW = "from django.conf import settings as s; print(s.SECURE_PROXY_SSL_HEADER)"


def test_the_proxy_header_is_ignored_by_default(tmp_path):
    result = manage("shell", "-c", SHOW, tmp_path=tmp_path, DEBUG="true")
    assert result.stdout.strip().splitlines()[-1] == "None", result.stderr


def test_trust_proxy_headers_turns_it_on(tmp_path):
    result = manage("shell", "-c", SHOW, tmp_path=tmp_path, DEBUG="true", TRUST_PROXY_HEADERS="true")
    assert result.stdout.strip().splitlines()[-1] == "('HTTP_X_FORWARDED_PROTO', 'https')", result.stderr


def test_a_spoofed_forwarded_proto_does_not_dodge_the_https_redirect(client, settings, db):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/login/", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


def test_behind_a_trusted_proxy_the_forwarded_proto_counts(client, settings, db):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client.get("/login/", headers={"X-Forwarded-Proto": "https"}).status_code == 200
