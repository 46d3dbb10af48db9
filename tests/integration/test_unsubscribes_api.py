"""``GET /api/customer/unsubscribes`` over HTTP on both backends, fed by the real write path.

Writes go through the API (POST/DELETE unsubscribes, signed bounce and complaint reports, a
one-click link); the notification feed is projected through the real sink; the GET answers
what the event store holds, per customer.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from flask import Flask
from flask.testing import FlaskClient

from consumers.clickhouse_sink import ClickHouseSink
from event_store.application import EmailEvents
from event_store.feed import NotificationFeed
from mailerlogic.config import Settings
from security import inbound_signature
from security import tokens
from tests.helpers import bus_for
from tests.helpers import new_customer
from warehouse.port import ClickHouse
from web.app import create_app

SECRET, HOOK = b"k", b"hook-secret"
PATH = "/api/customer/unsubscribes"


@pytest.fixture
def events() -> EmailEvents:
    return EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def app(events: EmailEvents, clickhouse: ClickHouse, tmp_path: Path) -> Flask:
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k",
                                  "MAILERLOGIC_WEBHOOK_SECRET": HOOK.decode()})
    app = create_app(settings, events=events, clickhouse=lambda: clickhouse)
    app.extensions["usage"] = lambda customer_id: 0
    return app


def _call(client: FlaskClient, method: str, path: str, key: str | None, body: Any = None) -> tuple[int, Any]:
    headers = {"X-API-Key": key} if key else {}
    response = client.open(path, method=method, json=body, headers=headers)
    return response.status_code, response.get_json()


def _send(client: FlaskClient, key: str, to: str) -> str:
    status, body = _call(client, "POST", "/api/send", key, {"to": to, "subject": "s", "text": "t"})
    assert status == 200, body
    return str(body["message_id"])


def _report(client: FlaskClient, kind: str, report: dict[str, Any]) -> None:
    body, stamp = json.dumps(report).encode(), str(int(time.time()))
    response = client.post(f"/api/webhooks/{kind}", data=body, content_type="application/json",
                           headers={"X-MailerLogic-Timestamp": stamp, "X-MailerLogic-Signature":
                                    inbound_signature.sign(HOOK, stamp, f"/api/webhooks/{kind}", body)})
    assert (response.status_code, response.get_json()["accepted"]) == (200, 1)


def _project(events: EmailEvents, clickhouse: ClickHouse) -> None:
    """What the projector does: the feed's envelopes through the sink."""
    ClickHouseSink(clickhouse).write(NotificationFeed(events).read(0, 10_000).envelopes)


def _entry(events: EmailEvents, customer_id: UUID, email: str, domain_id: UUID | None) -> dict[str, Any]:
    """The entry as the write side holds it, in the list's shape."""
    record = events.suppression(customer_id, email)
    assert record is not None
    found = record.entries[domain_id]
    return {"id": str(found["id"]), "email": email, "domain_id": str(domain_id) if domain_id else None,
            "source": found["source"], "reason": found["reason"],
            "created_at": found["created_at"].strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_the_list_follows_every_way_in_and_out(app: Flask, events: EmailEvents,
                                               clickhouse: ClickHouse) -> None:
    client = app.test_client()
    customer, key = new_customer(bus_for(events, SECRET), "acme.test")
    domain_id = next(iter(customer.domains))
    other, other_key = new_customer(bus_for(events, SECRET), "other.test")

    status, created = _call(client, "POST", PATH, key, {"email": "Ada@Example.org",
                                                        "reason": "asked by phone"})
    assert status == 201
    bob = {"email": "bob@example.org", "domain_id": str(domain_id)}
    assert _call(client, "POST", PATH, key, bob)[0] == 201
    _report(client, "bounce", {"message_id": _send(client, key, "carol@example.org"),
                               "recipient": "carol@example.org", "type": "hard", "code": 550,
                               "diagnostic": "550 5.1.1 user unknown"})
    _report(client, "complaint", {"message_id": _send(client, key, "dan@example.org"),
                                  "recipient": "dan@example.org"})
    token = tokens.mint(SECRET, "u", UUID(_send(client, key, "erin@example.org")))
    assert client.post(f"/track/u/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert _call(client, "POST", PATH, key, {"email": "frank@example.org"})[0] == 201
    assert _call(client, "DELETE", f"{PATH}/frank@example.org", key)[0] == 200
    assert _call(client, "POST", PATH, other_key, {"email": "ada@example.org"})[0] == 201
    _project(events, clickhouse)

    expected = [_entry(events, customer.id, email, scope) for email, scope in [
        ("erin@example.org", None), ("dan@example.org", None), ("carol@example.org", None),
        ("bob@example.org", domain_id), ("ada@example.org", None)]]
    assert expected[-1] == created["unsubscribe"]
    assert [(e["source"], e["reason"]) for e in expected] == [
        ("one-click", None), ("complaint", "abuse"), ("bounce", "550 5.1.1 user unknown"),
        ("api", None), ("api", "asked by phone")]
    for prefix in ("/api", "/api/v1"):
        assert _call(client, "GET", f"{prefix}/customer/unsubscribes", key) == (200, {
            "unsubscribes": expected, "pagination": {"page": 1, "limit": 50, "total": 5, "pages": 1}})
    assert _call(client, "GET", f"{PATH}?source=complaint", key)[1]["unsubscribes"] == [expected[1]]
    assert _call(client, "GET", f"{PATH}?domain_id={domain_id}", key)[1]["unsubscribes"] == [expected[3]]
    assert _call(client, "GET", f"{PATH}?limit=2&page=3", key)[1] == {
        "unsubscribes": [expected[4]], "pagination": {"page": 3, "limit": 2, "total": 5, "pages": 3}}
    assert _call(client, "GET", PATH, other_key)[1]["unsubscribes"] == [
        _entry(events, other.id, "ada@example.org", None)]

    assert _call(client, "DELETE", f"{PATH}/ada@example.org", key)[0] == 200
    assert _call(client, "GET", PATH, key)[1]["pagination"]["total"] == 5  # not projected yet
    _project(events, clickhouse)
    assert _call(client, "GET", PATH, key)[1]["unsubscribes"] == expected[:4]
    assert _call(client, "GET", PATH, other_key)[1]["pagination"]["total"] == 1


def test_errors_are_json(app: Flask, events: EmailEvents) -> None:
    client = app.test_client()
    _, key = new_customer(bus_for(events, SECRET), "acme.test")
    assert _call(client, "GET", PATH, None)[0] == 401
    status, body = _call(client, "GET", f"{PATH}?limit=5000", key)
    assert (status, body["error"], body["details"]) == (
        400, "invalid_parameter", {"limit": ["must be a whole number from 1 to 1000"]})
    status, body = _call(client, "GET", f"{PATH}?domain_id=nope", key)
    assert (status, body["details"]) == (400, {"domain_id": ["must be a UUID or global"]})
    assert _call(client, "PUT", PATH, key)[0] == 405
