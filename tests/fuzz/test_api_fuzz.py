"""Schemathesis over the app's own ``/api/openapi.json``: no 5xx, and every answer as documented.

Every operation of the document, authenticated (the seeded customer's key, the operator token
on ``/operator``), with schema-valid and schema-invalid input from a fixed seed, against the
embedded default in this process. ``MAILERLOGIC_FUZZ_CASES`` sets how many cases (default
:data:`SUITE_CASES`, about a minute here); ``make fuzz`` runs the issue's 20,000.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis

from tests.fuzz.runner import run
from tests.fuzz.target import Target
from tests.fuzz.target import seeded

pytestmark = [pytest.mark.fuzz, pytest.mark.chdb]
SUITE_CASES = 2500
# Read at import time: the root conftest clears the project's variables around each test.
CASES = int(os.environ.get("MAILERLOGIC_FUZZ_CASES") or SUITE_CASES)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    with seeded(tmp_path / "data") as found:
        yield found


def test_fuzzed_requests_get_only_documented_answers(target: Target) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", target.app)
    score = run(schema, target, CASES)
    print(score.report())  # shown with -s, and by make fuzz
    assert score.cases >= CASES
    assert list(score.findings.values()) == []
    # The run reached past the doors: signed reports were parsed, real objects found, the key rotated.
    for path, status in (("/api/webhooks/{kind}", 200), ("/api/customer/domains/{domain_id}", 200),
                         ("/api/emails/{email_id}/events", 200), ("/track/c/{token}", 302),
                         ("/api/customer/rotate-key", 200), ("/operator/projections/rebuild", 200)):
        assert target.answered[(path, status)] > 0, (path, status)
