"""The fuzzer itself: a 5xx and an answer off its schema, planted in the app, are findings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Response

from tests.fuzz.runner import run
from tests.fuzz.target import Target
from tests.fuzz.target import seeded

pytestmark = [pytest.mark.fuzz, pytest.mark.chdb]


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    with seeded(tmp_path / "data") as found:
        yield found


def test_a_planted_500_and_a_planted_schema_violation_are_found(target: Target) -> None:
    def broken() -> Any:
        raise RuntimeError("planted")

    target.app.view_functions["ops.healthz"] = broken
    target.app.view_functions["account.smtp_credentials"] = lambda: {"smtp_credentials": {"ports": "none"}}
    target.app.view_functions["apidoc.docs_page"] = lambda: Response("gone", 404, mimetype="text/plain")
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", target.app)
    score = run(schema.include(path_regex="^/(healthz|api/smtp-credentials|api/docs)$"), target, 30)
    found = {(f.operation, f.failure, f.status) for f in score.findings.values()}
    assert found == {("GET /healthz", "Server error", 500), ("GET /healthz", "Undocumented status code", 500),
                     ("GET /api/smtp-credentials", "Response violates schema", 200),
                     ("GET /api/docs", "Undocumented status code", 404),
                     ("GET /api/docs", "Custom check failed: `error_answer_is_json`", 404)}, found
    assert score.cases >= 3
