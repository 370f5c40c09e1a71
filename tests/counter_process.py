"""Another portal process for tests/portal/test_shared_counters.py: it reads a JSON request spec on stdin
(method, path, data, headers, times), sends it ``times`` times through Django's test client on the
database and cache the environment names (DATABASE_URL, CACHE_URL), and prints each response's status
and body as JSON. A gunicorn worker beside the test process, in short."""

from __future__ import annotations

import json
import os
import sys

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exceptions_portal.settings")
    django.setup()
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's "testserver" host, emails kept in memory
    spec = json.load(sys.stdin)
    client = Client()
    send = getattr(client, spec["method"])
    results = []
    for _ in range(spec["times"]):
        response = send(spec["path"], spec.get("data"), headers=spec.get("headers", {}))
        results.append({"status": response.status_code, "body": response.content.decode(errors="replace")})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
