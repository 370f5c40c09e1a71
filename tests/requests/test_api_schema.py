"""The API against its own OpenAPI schema, with schemathesis: no 500, every response (status, content type,
headers, body) as documented, and stateful sequences that follow the schema's links.

schemathesis imports the PyPI ``requests`` package, which this project's ``requests`` app shadows inside the
test process (see test_project.py), so it cannot run in-process here: it runs as its CLI in a subprocess,
outside the project directory, against the live test server (same test database, same settings).
Bounded: a fixed seed and a few examples per operation, about half a minute.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from requests import services
from requests.api.tokens import api_token_create
from tests.conftest import facts

# The API's validation is the portal forms' (a customer reference must be new or known, a policy must exist,
# a denial needs an alternative): a schema cannot say all that, so a schema-valid body may well get a 400.
# DRF also accepts "12" for an integer: lenient, not wrong. Everything else is checked.
EXCLUDED_CHECKS = "positive_data_acceptance,negative_data_rejection"
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10")
PHASES = os.environ.get("SCHEMATHESIS_PHASES", "examples,fuzzing,stateful")


def schemathesis_cli() -> str:
    found = Path(sys.executable).with_name("st")
    return str(found) if found.exists() else (shutil.which("st") or "st")


@pytest.mark.django_db(transaction=True)
def test_the_api_keeps_to_its_schema(live_server, settings, tmp_path, rep, manager_high, policy):
    settings.API_THROTTLE_RATE = "100000/min"
    pending = services.exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("120")))
    decided = services.exception_request_file(rep=rep, facts=facts(policy, customer_ref="C-2", amount=Decimal("90")))
    services.exception_request_decide(request_id=decided.pk, approver=manager_high, approve=True, note="ok")
    services.exception_request_ask(request_id=pending.pk, approver=manager_high, question="Receipt?")
    _, token = api_token_create(user=manager_high, name="schemathesis")

    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    result = subprocess.run(
        [
            schemathesis_cli(),
            "run",
            f"{live_server.url}/api/schema/",
            "--header",
            f"Authorization: Bearer {token}",
            "--header",
            "Accept: application/json",
            "--checks",
            "all",
            "--exclude-checks",
            EXCLUDED_CHECKS,
            "--phases",
            PHASES,
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            "1",
            "--workers",
            "1",
            "--suppress-health-check",
            "all",
        ],
        cwd=tmp_path,  # not the project directory: there "import requests" is the app
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
