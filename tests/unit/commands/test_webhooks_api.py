"""Outbound webhook endpoints: CRUD, limits, secrets shown once and stored sealed, tenancy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from event_store.aggregates import WebhookEndpoints
from event_store.application import EmailEvents
from mailerlogic.config import Settings
from security import dkim_keys
from tests.helpers import bus_for
from tests.helpers import new_customer
from web.app import create_app


@pytest.fixture
def events() -> EmailEvents:
    return EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def _client(events: EmailEvents, tmp_path: Path, allow_private: str = "0") -> FlaskClient:
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k",
                                  "MAILERLOGIC_WEBHOOKS_ALLOW_PRIVATE": allow_private})
    app: Flask = create_app(settings, events=events, clickhouse=lambda: None)  # type: ignore[arg-type,return-value]
    return app.test_client()


def _call(client: FlaskClient, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
    response = client.open(path, method=method, json=body, headers={"X-API-Key": key})
    return response.status_code, response.get_json()


def test_create_shows_the_secret_once_and_stores_it_sealed(events: EmailEvents, tmp_path: Path) -> None:
    client = _client(events, tmp_path)
    customer, key = new_customer(bus_for(events, b"k"), "acme.test", tier="professional")
    domain_id = str(next(iter(customer.domains)))
    status, body = _call(client, "POST", "/api/customer/webhooks", key,
                         {"url": "https://hooks.acme.test/ml", "name": "main", "events": ["email.opened"],
                          "domain_ids": [domain_id]})
    assert status == 201
    secret, hook = body["secret"], body["webhook"]
    assert secret.startswith("whsec_") and len(secret) == 54
    assert hook | {"id": None, "created_at": None} == {
        "id": None, "url": "https://hooks.acme.test/ml", "name": "main", "description": None,
        "events": ["email.opened"], "domain_ids": [domain_id], "is_active": True, "created_at": None}
    stored = events.get(WebhookEndpoints.create_id(customer.id), WebhookEndpoints, "w")
    sealed = next(iter(stored.endpoints.values()))["secret_sealed"]
    assert secret not in sealed
    assert dkim_keys.unseal(b"k", sealed, associated_data=__import__("uuid").UUID(hook["id"]).bytes) == (
        secret.encode())
    listed = _call(client, "GET", "/api/customer/webhooks", key)[1]
    assert [w["id"] for w in listed["webhooks"]] == [hook["id"]] and "secret" not in str(listed)


def test_patch_delete_limit_and_validation(events: EmailEvents, tmp_path: Path) -> None:
    client = _client(events, tmp_path)
    _, key = new_customer(bus_for(events, b"k"), "acme.test")  # starter: 1 endpoint
    hook_id = _call(client, "POST", "/api/customer/webhooks", key, {"url": "https://a.test/"})[1]["webhook"]["id"]
    status, body = _call(client, "POST", "/api/customer/webhooks", key, {"url": "https://b.test/"})
    assert (status, body["error"]) == (422, "webhook_limit_reached")
    for bad in [{"url": "http://a.test/"}, {"url": "ftp://a.test/"}, {"events": ["email.teleported"]},
                {"url": "https://a.test/", "domain_ids": ["00000000-0000-0000-0000-000000000001"]}]:
        assert _call(client, "PATCH", f"/api/customer/webhooks/{hook_id}", key, bad)[0] == 400, bad
    status, body = _call(client, "PATCH", f"/api/customer/webhooks/{hook_id}", key, {"is_active": False})
    assert (status, body["webhook"]["is_active"]) == (200, False)
    assert _call(client, "DELETE", f"/api/customer/webhooks/{hook_id}", key)[0] == 200
    assert _call(client, "GET", f"/api/customer/webhooks/{hook_id}", key)[0] == 404


def test_http_targets_need_the_operator_setting(events: EmailEvents, tmp_path: Path) -> None:
    client = _client(events, tmp_path, allow_private="1")
    _, key = new_customer(bus_for(events, b"k"), "acme.test")
    assert _call(client, "POST", "/api/customer/webhooks", key, {"url": "http://127.0.0.1:9/h"})[0] == 201


def test_another_customers_endpoint_is_404(events: EmailEvents, tmp_path: Path) -> None:
    client = _client(events, tmp_path)
    _, mine = new_customer(bus_for(events, b"k"), "mine.test")
    _, theirs = new_customer(bus_for(events, b"k"), "theirs.test")
    hook_id = _call(client, "POST", "/api/customer/webhooks", theirs, {"url": "https://t.test/"})[1]["webhook"]["id"]
    for method, body in [("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)]:
        assert _call(client, method, f"/api/customer/webhooks/{hook_id}", mine, body)[0] == 404
    assert _call(client, "GET", "/api/customer/webhooks", mine)[1]["webhooks"] == []
