"""``/api/openapi.json`` documents every route of the app and validates; ``/api/docs`` works offline."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from flask import Flask
from openapi_spec_validator import validate

from event_store.application import EmailEvents
from mailerlogic.config import Settings
from security import tokens
from tests.helpers import new_customer
from web import operator_api
from web.apidoc.document import endpoint_key
from web.apidoc.document import routes
from web.apidoc.registry import DOCS
from web.app import create_app


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    data = tmp_path_factory.mktemp("apidoc")
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(data), "MAILERLOGIC_SECRET_KEY": "k",
                                  "MAILERLOGIC_PUBLIC_URL": "https://mail.example.com"})
    app = create_app(settings, events=EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}),
                     clickhouse=lambda: None)
    operator_api.install(app, lambda tables, progress: None, settings.secret_key)  # as make_app on chdb
    return app


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
                       "description": "the same API key as a bearer token"},
        "OperatorToken": {"type": "http", "scheme": "bearer", "description": (
            "the operator token (`mailerlogic` derives it from MAILERLOGIC_SECRET_KEY), accepted only "
            "from loopback; never a customer key")}}
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


# Item 9 of issue 11: the document tells the truth.

METHODS = ("get", "post", "put", "patch", "delete")
SAMPLE_UUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


@pytest.fixture(scope="module")
def key(app: Flask) -> str:
    return str(new_customer(app.extensions["bus"], "acme.test", tier="enterprise")[1])


def _concrete(path: str) -> str:
    """A request path for a documented one: each path parameter a well-formed value (a signed token)."""
    token = tokens.mint(b"k", path.split("/")[2], UUID(SAMPLE_UUID)) if path.startswith("/track/") else ""
    values = {"{kind}": "bounce", "{token}": token}
    return re.sub(r"\{[^}]+\}", lambda m: values.get(m.group(0), SAMPLE_UUID), path)


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


def test_every_operation_that_records_documents_409_conflict(doc: dict[str, Any]) -> None:
    pure = {("/api/content/score", "post"), ("/operator/projections/rebuild", "post")}  # record nothing
    for path, method, op in _operations(doc):
        unversioned = (path.replace("/api/v1/", "/api/", 1), method)
        records = (method in ("post", "patch", "delete") and unversioned not in pure
                   or unversioned == ("/track/c/{token}", "get"))
        conflict = op["responses"].get("409", {}).get("description", "")
        assert ("`conflict`: a concurrent request changed the same object first" in conflict) is records, (
            method, path, conflict)


def test_domain_taken_and_the_unsubscribe_404_are_documented(doc: dict[str, Any]) -> None:
    for path, method in (("/api/customer/domains", "post"), ("/api/send", "post"),
                         ("/api/customer/domains/{domain_id}/verify", "post")):
        assert "`domain_taken`" in doc["paths"][path][method]["responses"]["409"]["description"], path
    unsubscribe = doc["paths"]["/api/customer/unsubscribes"]["post"]["responses"]
    assert unsubscribe["404"]["description"] == "`domain_id` is not one of the customer's domains"
    assert unsubscribe["409"]["description"].startswith("`already_unsubscribed`")


def test_an_unsubscribe_for_another_customers_domain_is_404(app: Flask, key: str) -> None:
    answer = app.test_client().post("/api/customer/unsubscribes", headers={"X-API-Key": key},
                                    json={"email": "ada@example.org", "domain_id": SAMPLE_UUID})
    assert answer.status_code == 404 and answer.get_json()["error"] == "not_found"


def test_a_wrong_method_is_405_with_allow_listing_the_documented_methods(app: Flask,
                                                                         doc: dict[str, Any]) -> None:
    client, checked = app.test_client(), 0
    for path, ops in doc["paths"].items():
        documented = {method.upper() for method in ops}
        allowed = documented | {"OPTIONS"} | ({"HEAD"} if "GET" in documented else set())
        for method in sorted(set(METHODS) - set(ops)):
            answer = client.open(_concrete(path), method=method.upper())
            assert answer.status_code == 405, (method, path, answer.status_code)
            assert answer.get_json()["error"] == "method_not_allowed"
            assert set(answer.headers["Allow"].split(", ")) == allowed, (method, path)
            checked += 1
    assert checked > 200
    assert doc["components"]["responses"]["Error405"]["headers"]["Allow"] == {
        "$ref": "#/components/headers/Allow"}


def test_every_body_limit_is_documented_and_answers_413(app: Flask, doc: dict[str, Any], key: str) -> None:
    client, limited = app.test_client(), 0
    for path, method, op in _operations(doc):
        if "requestBody" not in op:
            assert "413" not in op["responses"], (method, path)
            continue
        text = op["responses"]["413"]["description"]
        limit = 1024 * 1024 if "/webhooks/{kind}" in path else 10 * 1024 * 1024
        assert text == (f"Too large: the request body may be at most {limit // (1024 * 1024)} MB"
                        if path not in ("/api/send", "/api/v1/send") else
                        "Too large: the request over 10 MB, or html or text over 1 MB"), (method, path)
        media = next(iter(op["requestBody"]["content"]))
        headers = {"Content-Type": media, "X-API-Key": key,
                   "Authorization": f"Bearer {operator_api.operator_token(b'k')}" if path.startswith(
                       "/operator/") else f"Bearer {key}"}
        answer = client.open(_concrete(path), method=method.upper(), data=b"x" * (limit + 1), headers=headers)
        assert (answer.status_code, answer.mimetype) == (413, "application/json"), (method, path)
        assert answer.get_json()["error"] in ("request_entity_too_large", "payload_too_large"), (method, path)
        limited += 1
    assert limited >= 26  # 13 operations that take a body, each at /api and /api/v1 (operator: once)


def test_the_pixel_documents_its_gif_on_a_bad_token(app: Flask, doc: dict[str, Any]) -> None:
    answer = doc["paths"]["/track/o/{token}"]["get"]["responses"]["404"]
    assert answer["content"] == {"image/gif": {"schema": {"type": "string", "format": "binary"}}}
    served = app.test_client().get("/track/o/forged")
    assert (served.status_code, served.mimetype) == (404, "image/gif")


def test_error_details_are_documented_nested_as_the_api_answers_them(app: Flask, doc: dict[str, Any],
                                                                    key: str) -> None:
    from openapi_schema_validator import OAS30Validator

    schema = {"$ref": "#/components/schemas/Error", "components": doc["components"]}
    answer = app.test_client().post("/api/send", headers={"X-API-Key": key}, json={
        "to": "ada@example.org", "subject": "Hi", "text": "x", "metadata": {"": 1}})
    body = answer.get_json()
    assert answer.status_code == 400 and body["details"] == {"metadata": {"": {"key": [
        "Length must be between 1 and 128."]}}}
    OAS30Validator(schema).validate(body)
    flat_only = {**doc["components"]["schemas"]["ErrorDetails"],
                 "additionalProperties": {"type": "array", "items": {"type": "string"}}}
    assert not OAS30Validator(flat_only).is_valid(body["details"])  # the old shape said too little
    batch = app.test_client().post("/api/batch", headers={"X-API-Key": key},
                                   json={"emails": [{"to": "nope", "subject": "Hi", "text": "x"}, 7]})
    items = batch.get_json()["results"]
    assert [(item["index"], item["error"]) for item in items] == [(0, "validation_error"),
                                                                  (1, "validation_error")]
    OAS30Validator({"$ref": "#/components/schemas/BatchResult", "components": doc["components"]}).validate(
        batch.get_json())


def test_examples_are_valid_today(app: Flask, doc: dict[str, Any]) -> None:
    from openapi_schema_validator import OAS30Validator

    from read_api.params import stats_query

    bodies = 0
    for _, _, op in _operations(doc):
        for media in op.get("requestBody", {}).get("content", {}).values():
            if "example" in media:
                schema = {**media["schema"], "components": doc["components"]}
                OAS30Validator(schema).validate(media["example"])
                bodies += 1
    assert bodies >= 10
    today = datetime.now(UTC).date()
    params = {p["name"]: p for p in doc["paths"]["/api/stats/outbound"]["get"]["parameters"]}
    example = params["fromdate"]["schema"]["example"]
    assert example == (today - timedelta(days=7)).isoformat()
    assert stats_query({"fromdate": example}, datetime.now(UTC)).start.date() == today - timedelta(days=7)
    stamps = [node["example"] for node in _nodes(doc)
              if node.get("format") == "date-time" and "example" in node]
    assert stamps and set(stamps) == {f"{today.isoformat()}T14:30:00Z"}


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


def test_the_operator_endpoints_are_documented_with_their_token(doc: dict[str, Any]) -> None:
    ops = doc["paths"]["/operator/projections/rebuild"]
    assert [op["security"] for op in ops.values()] == [[{"OperatorToken": []}]] * 2
    assert sorted(ops["get"]["responses"]) == ["200", "403"]
    assert sorted(ops["post"]["responses"]) == ["202", "400", "403", "409", "413"]
    assert ops["post"]["requestBody"]["required"] is False


def test_readiness_documents_its_own_body_on_503(doc: dict[str, Any]) -> None:
    answer = doc["paths"]["/readyz"]["get"]["responses"]["503"]
    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Readiness"}


def test_an_empty_query_parameter_is_documented_as_none(doc: dict[str, Any]) -> None:
    from read_api.params import stats_query

    query = [p for _, _, op in _operations(doc) for p in op["parameters"] if p["in"] == "query"]
    assert len(query) > 50 and all(p["allowEmptyValue"] is True for p in query)
    now = datetime.now(UTC)
    assert stats_query({"domain_id": "", "tag": "", "fromdate": ""}, now) == stats_query({}, now)
