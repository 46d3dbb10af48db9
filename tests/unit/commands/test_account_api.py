"""Profile, key rotation and SMTP credentials through the API (in-memory event store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from event_store.aggregates import Customer
from event_store.application import EmailEvents
from mailerlogic.config import Settings
from security.keys import hash_password
from tests.helpers import bus_for
from tests.helpers import new_customer
from tests.helpers import start_of_a_fresh_minute
from web.app import create_app


@pytest.fixture
def events() -> EmailEvents:
    return EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def app(events: EmailEvents, tmp_path: Path) -> Flask:
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k",
                                  "MAILERLOGIC_PUBLIC_URL": "https://mail.example.net"})
    app = create_app(settings, events=events, clickhouse=lambda: None)  # type: ignore[arg-type,return-value]
    app.extensions["usage"] = lambda customer_id: 1234
    return app


@pytest.fixture
def customer(events: EmailEvents) -> tuple[Customer, str]:
    return new_customer(bus_for(events, b"k"), "acme.test", tier="professional")  # type: ignore[no-any-return]


def _call(client: FlaskClient, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
    response = client.open(path, method=method, json=body, headers={"Authorization": f"Bearer {key}"})
    return response.status_code, response.get_json()


def test_profile_shows_limits_usage_and_a_masked_key(app: Flask, customer: tuple[Customer, str]) -> None:
    account, key = customer
    status, body = _call(app.test_client(), "GET", "/api/customer/profile", key)
    assert status == 200
    profile = body["customer"]
    assert profile | {"created_at": None} == {
        "id": str(account.id), "name": "Acme", "email": "ops@acme.test", "status": "active",
        "tier": "professional", "created_at": None, "webhook_url": None, "tracking_enabled": True,
        "open_tracking_enabled": True, "click_tracking_enabled": True, "monthly_email_limit": 100_000,
        "emails_sent_this_month": 1234, "remaining_emails": 98_766, "max_domains": 5,
        "current_domains": 1, "enforce_sender_verification": True,
        "api_key": f"ml_live_...{key[-4:]}"}
    assert profile["created_at"].endswith("Z")
    assert key not in str(body)


def test_patch_profile_changes_only_the_given_fields(app: Flask, customer: tuple[Customer, str]) -> None:
    _, key = customer
    client = app.test_client()
    status, body = _call(client, "PATCH", "/api/customer/profile", key,
                         {"name": "Acme Ltd", "webhook_url": "https://hooks.acme.test/ml",
                          "open_tracking_enabled": False})
    assert status == 200
    assert body["webhook_secret"].startswith("whsec_") and len(body["webhook_secret"]) == 54
    assert (body["customer"]["name"], body["customer"]["webhook_url"],
            body["customer"]["open_tracking_enabled"], body["customer"]["click_tracking_enabled"]) == (
        "Acme Ltd", "https://hooks.acme.test/ml", False, True)


@pytest.mark.parametrize("patch", [{}, {"tier": "enterprise"}, {"webhook_url": "ftp://x"},
                                   {"name": ""}, {"open_tracking_enabled": "maybe"}])
def test_bad_profile_patches_are_400_and_change_nothing(app: Flask, customer: tuple[Customer, str],
                                                        events: EmailEvents, patch: dict[str, Any]) -> None:
    _, key = customer
    before = events.recorder_.max_notification_id()
    status, body = _call(app.test_client(), "PATCH", "/api/customer/profile", key, patch)
    assert (status, body["error"]) == (400, "validation_error")
    assert events.recorder_.max_notification_id() == before


def test_rotating_the_key_kills_the_old_one_at_once(app: Flask, customer: tuple[Customer, str]) -> None:
    account, old = customer
    client = app.test_client()
    status, body = _call(client, "POST", "/api/customer/rotate-key", old)
    new = body["api_key"]
    assert (status, body["key_prefix"], body["customer"]) == (
        200, "ml_live_", {"id": str(account.id), "name": "Acme", "email": "ops@acme.test"})
    assert new.startswith("ml_live_") and len(new) == 72 and new != old
    assert _call(client, "GET", "/api/customer/profile", old)[0] == 401
    assert _call(client, "GET", "/api/customer/profile", new)[0] == 200


def test_smtp_password_is_shown_once_and_stored_as_a_hash(app: Flask, customer: tuple[Customer, str],
                                                          events: EmailEvents) -> None:
    account, key = customer
    client = app.test_client()
    expected = {"host": "mail.example.net", "ports": [25, 587, 465, 2525], "recommended_port": 587,
                "username": "ops@acme.test"}
    assert _call(client, "GET", "/api/smtp-credentials", key) == (200, {"smtp_credentials": expected})
    status, body = _call(client, "POST", "/api/smtp-credentials/rotate", key)
    password = body["smtp_credentials"].pop("password")
    assert (status, body["success"], body["smtp_credentials"]) == (200, True, expected)
    assert len(password) >= 24 and body["warning"]
    stored = events.get(account.id, Customer, "customer").smtp_password_hash
    assert stored is not None and password not in stored
    _, salt, _ = stored.split("$")
    assert hash_password(password, bytes.fromhex(salt)) == stored


def test_rate_limit_headers_and_429_after_the_tier_limit(events: EmailEvents, tmp_path: Path,
                                                         customer: tuple[Customer, str]) -> None:
    from web.ratelimit import InMemoryRateLimiter

    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k"})
    app = create_app(settings, events=events, clickhouse=lambda: None,  # type: ignore[arg-type,return-value]
                     rate_limiter=InMemoryRateLimiter())
    client, (_, key) = app.test_client(), customer
    start_of_a_fresh_minute(5)
    first = client.get("/api/smtp-credentials", headers={"X-API-Key": key})
    assert (first.headers["X-RateLimit-Limit"], first.headers["X-RateLimit-Remaining"]) == ("600", "599")
    assert int(first.headers["X-RateLimit-Reset"]) > 0
    statuses = [client.get("/api/smtp-credentials", headers={"X-API-Key": key}).status_code
                for _ in range(600)]
    assert statuses.count(200) == 599 and statuses[-1] == 429
    refused = client.get("/api/smtp-credentials", headers={"X-API-Key": key})
    assert (refused.status_code, refused.get_json()["error"]) == (429, "rate_limit_exceeded")
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["X-RateLimit-Remaining"] == "0"
