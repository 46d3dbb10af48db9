"""``/api/openapi.json`` documents every route of the app and validates; ``/api/docs`` works offline."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from openapi_spec_validator import validate

from event_store.application import EmailEvents
from mailerlogic.apidoc.document import endpoint_key
from mailerlogic.apidoc.document import routes
from mailerlogic.apidoc.registry import DOCS
from mailerlogic.app import create_app
from mailerlogic.config import Settings


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    data = tmp_path_factory.mktemp("apidoc")
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(data), "MAILERLOGIC_SECRET_KEY": "k",
                                  "MAILERLOGIC_PUBLIC_URL": "https://mail.example.com"})
    return create_app(settings, events=EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}),
                      clickhouse=lambda: None)


@pytest.fixture(scope="module")
def doc(app: Flask) -> dict[str, Any]:
    response = app.test_client().get("/api/openapi.json")  # no key: public
    assert (response.status_code, response.mimetype) == (200, "application/json")
    return dict(response.get_json())


def _route_set(app: Flask) -> set[tuple[str, str]]:
    return {(path, method) for path, method, _ in routes(app)}


def test_every_route_of_the_url_map_is_in_the_document(app: Flask, doc: dict[str, Any]) -> None:
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    rules = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    assert len(rules) > 50 and "/api/v1/send" in rules
    assert documented == _route_set(app)


def test_every_route_has_a_registry_entry_and_no_entry_is_stale(app: Flask, doc: dict[str, Any]) -> None:
    undocumented = sorted(f"{method.upper()} {path}" for path, ops in doc["paths"].items()
                          for method, op in ops.items() if op.get("x-undocumented"))
    assert undocumented == [], "add these endpoints to mailerlogic/apidoc/registry.py DOCS"
    used = {endpoint_key(rule.endpoint) for rule in app.url_map.iter_rules()}
    assert sorted(set(DOCS) - used) == []


def test_the_document_is_valid_openapi_3(doc: dict[str, Any]) -> None:
    validate(doc)  # raises on any structural error
    assert doc["openapi"] == "3.0.3"
    assert doc["servers"] == [{"url": "https://mail.example.com"}]
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_v1_serves_the_same_document(app: Flask, doc: dict[str, Any]) -> None:
    assert app.test_client().get("/api/v1/openapi.json").get_json() == doc


def test_send_is_described_from_its_marshmallow_schema(doc: dict[str, Any]) -> None:
    send = doc["paths"]["/api/send"]["post"]
    assert (send["summary"], send["tags"]) == ("Queue one message.", ["Sending"])
    assert send["security"] == [{"ApiKeyHeader": []}, {"BearerAuth": []}]
    body = send["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/SendRequest"}
    schema = doc["components"]["schemas"]["SendRequest"]
    assert sorted(schema["required"]) == ["subject", "to"]
    assert schema["properties"]["from"] == {
        "type": "string", "format": "email", "default": None, "nullable": True,
        "description": "default noreply@<domain>; must be on the sending domain"}
    assert schema["properties"]["subject"]["maxLength"] == 998
    assert sorted(send["responses"]) == ["200", "400", "401", "403", "409", "413", "415", "422", "429"]
    ok = send["responses"]["200"]
    assert sorted(ok["headers"]) == ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
                                     "X-Request-Id"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Queued"}
    assert doc["components"]["responses"]["Error429"]["headers"]["Retry-After"] == {
        "$ref": "#/components/headers/Retry-After"}


def test_security_schemes_errors_and_public_operations(doc: dict[str, Any]) -> None:
    assert doc["components"]["securitySchemes"] == {
        "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "BearerAuth": {"type": "http", "scheme": "bearer",
                       "description": "the same API key as a bearer token"}}
    assert sorted(doc["components"]["schemas"]["Error"]["required"]) == ["error", "message"]
    for path in ("/healthz", "/readyz", "/metrics", "/api/openapi.json", "/api/docs", "/track/o/{token}"):
        operation = doc["paths"][path]["get"]
        assert operation["security"] == [] and "401" not in operation["responses"], path
    report = doc["paths"]["/api/webhooks/{kind}"]["post"]
    assert report["security"] == []
    assert [p["name"] for p in report["parameters"] if p["in"] == "header"] == [
        "X-MailerLogic-Timestamp", "X-MailerLogic-Signature"]
    assert sorted(report["requestBody"]["content"]) == [
        "application/json", "message/delivery-status", "message/rfc822", "multipart/report"]


def test_query_and_path_parameters(doc: dict[str, Any]) -> None:
    series = doc["paths"]["/api/stats/outbound/{kind}"]["get"]
    params = {p["name"]: p for p in series["parameters"]}
    assert params["kind"]["in"] == "path" and params["kind"]["required"] is True
    assert params["kind"]["schema"]["enum"] == ["sends", "bounces", "opens", "clicks", "spam", "unsubscribes"]
    assert params["filter"]["schema"]["enum"] == ["all", "human_only", "scanner_only"]
    assert sorted(params) == ["domain_id", "filter", "fromdate", "interval", "kind", "tag", "timezone",
                              "todate"]
    domain = doc["paths"]["/api/customer/domains/{domain_id}"]["delete"]
    assert domain["parameters"][0]["schema"] == {"type": "string", "format": "uuid"}
    events = doc["paths"]["/api/events"]["get"]
    assert [p["name"] for p in events["parameters"]] == [
        "email_id", "type", "recipient", "from", "tag", "from_timestamp", "to_timestamp", "page", "limit",
        "cursor"]
    assert "403" in events["responses"]
    export = doc["paths"]["/api/events/export"]["get"]["responses"]["200"]["content"]
    assert sorted(export) == ["application/x-ndjson", "text/csv"]


@pytest.fixture(scope="module")
def page(app: Flask) -> str:
    response = app.test_client().get("/api/docs")  # no key: public
    assert (response.status_code, response.mimetype) == (200, "text/html")
    return str(response.get_data(as_text=True))


def test_the_reference_page_needs_nothing_from_the_network(page: str) -> None:
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page
    assert re.findall(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I) == []
    assert re.findall(r"url\(", page) == []
    assert re.findall(r"""(?:src|href)\s*=""", page).count("src=") == 0


def test_the_reference_page_lists_every_path_with_an_example(app: Flask, page: str,
                                                             doc: dict[str, Any]) -> None:
    for path, _ in _route_set(app):
        assert f"<code>{path}</code>" in page, path
    shown = sum(1 for path, ops in doc["paths"].items() for _ in ops
                if not path.startswith("/api/v1/"))
    assert page.count("<h4>Example</h4><pre>curl -X ") == shown
    assert "-d &#x27;{&quot;to&quot;: &quot;ada@example.org&quot;" in page
    uuid = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    assert f"curl -X GET &#x27;http://localhost/api/customer/domains/{uuid}" in page


def test_page_shows_request_fields_with_types_and_required(page: str) -> None:
    send = page[page.index('id="commands_send"'):]
    send = send[:send.index("</section>")]
    assert ("<tr><td><code>to</code></td><td>string (email)</td><td class=\"req\">required</td>" in send)
    assert "<tr><td><code>cc</code></td><td>array of string (email)</td><td>optional</td>" in send
    assert "also at <code>/api/v1/send</code>" in send
    bulk = page[page.index('id="batch_bulk_send"'):]
    assert "<code>recipients[].email</code>" in bulk[:bulk.index("</section>")]


def test_stale_registry_keys_are_reported(tmp_path: Path) -> None:
    assert endpoint_key("webhooks_api_v1.add") == "webhooks_api.add"
    assert endpoint_key("apidoc_v1.openapi") == "apidoc.openapi"
    assert endpoint_key("static") == "static"
