"""Every server-rendered HTML page: hostile input is escaped, and the page forbids scripts (CSP).

The set of HTML operations is read from the app's own OpenAPI document, so a new page without
a probe here fails the first test.
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest
from flask import Flask

from event_store.application import EmailEvents
from mailerlogic.config import Settings
from security import tokens
from tests.helpers import bus_for
from tests.helpers import new_customer
from web.app import create_app

SECRET = b"k"
PROBE = '"><svg onload=alert(1)><script>alert(2)</script>'
PAGES = {("get", "/api/docs"), ("get", "/api/v1/docs"), ("get", "/track/u/{token}"),
         ("post", "/track/u/{token}")}


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k"})
    events = EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app = create_app(settings, events=events, clickhouse=lambda: None)  # type: ignore[arg-type,return-value]
    app.extensions["usage"] = lambda customer_id: 0
    app.extensions["test_key"] = new_customer(bus_for(events, SECRET), "acme.test")[1]
    return app


def _html_operations(app: Flask) -> set[tuple[str, str]]:
    doc = app.test_client().get("/api/openapi.json").get_json()
    return {(method, path) for path, item in doc["paths"].items() for method, op in item.items()
            if isinstance(op, dict) and any("text/html" in (answer.get("content") or {})
                                            for answer in op.get("responses", {}).values())}


def _safe(page: bytes) -> None:
    assert b"<svg" not in page and b"<script" not in page


def test_the_probed_pages_are_every_html_page_of_the_api(app: Flask) -> None:
    assert _html_operations(app) == PAGES


@pytest.mark.parametrize("path", ["/api/docs", "/api/v1/docs"])
def test_the_reference_page_escapes_a_hostile_host_and_query(app: Flask, path: str) -> None:
    answer = app.test_client().get(f"{path}?x={PROBE}", headers={"Host": f"mail.test{PROBE}"})
    assert answer.status_code == 200
    _safe(answer.data)
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "script-src" not in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_unsubscribe_page_escapes_and_forbids_scripts(app: Flask, method: str) -> None:
    client = app.test_client()
    sent = client.post("/api/send", json={"to": "bob@example.org", "subject": "s", "text": "t"},
                       headers={"X-API-Key": app.extensions["test_key"]})
    token = tokens.mint(SECRET, "u", UUID(sent.get_json()["message_id"]))
    for path in (f"/track/u/{token}?next={PROBE}", f"/track/u/{token}{PROBE}", f"/track/u/{PROBE}"):
        answer = client.open(path, method=method, headers={"Referer": PROBE})
        _safe(answer.data)
        if answer.mimetype == "text/html":
            assert answer.status_code == 200
            assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")
        else:
            assert (answer.status_code, answer.get_json()["error"]) == (404, "not_found")
