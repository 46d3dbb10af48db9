"""Webhook URLs aimed at private, loopback and other non-global targets are refused when they are
registered — endpoints and the profile's ``webhook_url`` alike — with a 400 naming the field and
the reason, and nothing is recorded (issue 11 item 6)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from event_store.application import EmailEvents
from mailerlogic.config import Settings
from tests.helpers import bus_for
from tests.helpers import new_customer
from web.app import create_app

NO = "target address not allowed: "
_TEREDO = str(ipaddress.IPv6Address((0x20010000 << 96) | (int(ipaddress.IPv4Address("65.54.227.120")) << 64)
                                    | (int(ipaddress.IPv4Address("127.0.0.1")) ^ 0xFFFFFFFF)))
REFUSED = [
    ("https://127.0.0.1/hook", NO + "127.0.0.1 is loopback"),
    ("https://10.1.2.3/hook", NO + "10.1.2.3 is private"),
    ("https://169.254.169.254/latest/meta-data/", NO + "169.254.169.254 is link-local"),
    ("https://[::1]/hook", NO + "::1 is loopback"),
    ("https://[::ffff:7f00:1]/hook", NO + "::ffff:127.0.0.1 is IPv4-mapped for 127.0.0.1, which is loopback"),
    ("https://[2002:7f00:1::]/hook", NO + "2002:7f00:1:: is 6to4 for 127.0.0.1, which is loopback"),
    (f"https://[{_TEREDO}]/hook", NO + f"{_TEREDO} is Teredo for 127.0.0.1, which is loopback"),
    ("https://[64:ff9b::7f00:1]/hook", NO + "64:ff9b::7f00:1 is NAT64 for 127.0.0.1, which is loopback"),
    ("https://localhost/hook", NO + "localhost resolves to 127.0.0.1; 127.0.0.1 is loopback"),
    ("http://93.184.216.34/hook", "webhook URLs must use https"),
]
PUBLIC = "https://93.184.216.34/hook"


@pytest.fixture
def events() -> EmailEvents:
    return EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def _client(events: EmailEvents, tmp_path: Path, allow_private: str = "0") -> FlaskClient:
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k",
                                  "MAILERLOGIC_WEBHOOKS_ALLOW_PRIVATE": allow_private})
    app = create_app(settings, events=events, clickhouse=lambda: None)  # type: ignore[arg-type,return-value]
    app.extensions["usage"] = lambda customer_id: 0
    return app.test_client()


@pytest.fixture
def key(events: EmailEvents) -> str:
    return str(new_customer(bus_for(events, b"k"), "acme.test", tier="professional")[1])


def _call(client: FlaskClient, method: str, path: str, key: str, body: Any) -> tuple[int, Any]:
    response = client.open(path, method=method, json=body, headers={"X-API-Key": key})
    return response.status_code, response.get_json()


def _head(events: EmailEvents) -> int:
    return events.recorder_.max_notification_id() or 0


def _refusal(field: str, reason: str) -> dict[str, Any]:
    return {"error": "validation_error", "message": f"{field}: {reason}", "details": {field: [reason]}}


def _reason(url: str) -> str:
    return dict(REFUSED)[url]


@pytest.mark.parametrize("url", [url for url, _ in REFUSED])
def test_an_endpoint_aimed_at_a_non_global_target_is_refused_and_nothing_recorded(
        events: EmailEvents, tmp_path: Path, key: str, url: str) -> None:
    client = _client(events, tmp_path)
    before = _head(events)

    assert _call(client, "POST", "/api/customer/webhooks", key, {"url": url}) == (
        400, _refusal("url", _reason(url)))
    assert _head(events) == before
    assert _call(client, "GET", "/api/customer/webhooks", key, None)[1]["webhooks"] == []


@pytest.mark.parametrize("url", [url for url, _ in REFUSED])
def test_an_endpoint_cannot_be_changed_to_a_non_global_target(
        events: EmailEvents, tmp_path: Path, key: str, url: str) -> None:
    client = _client(events, tmp_path)
    hook_id = _call(client, "POST", "/api/customer/webhooks", key, {"url": PUBLIC})[1]["webhook"]["id"]
    before = _head(events)

    assert _call(client, "PATCH", f"/api/customer/webhooks/{hook_id}", key, {"url": url}) == (
        400, _refusal("url", _reason(url)))
    assert _head(events) == before
    assert _call(client, "GET", f"/api/customer/webhooks/{hook_id}", key, None)[1]["webhook"]["url"] == PUBLIC


@pytest.mark.parametrize("url", [url for url, _ in REFUSED])
def test_a_profile_webhook_url_aimed_at_a_non_global_target_is_refused_and_nothing_recorded(
        events: EmailEvents, tmp_path: Path, key: str, url: str) -> None:
    client = _client(events, tmp_path)
    before = _head(events)

    assert _call(client, "PATCH", "/api/customer/profile", key, {"webhook_url": url, "name": "Renamed"}) == (
        400, _refusal("webhook_url", _reason(url)))
    assert _head(events) == before
    profile = _call(client, "GET", "/api/customer/profile", key, None)[1]["customer"]
    assert (profile["webhook_url"], profile["name"]) == (None, "Acme")


def test_a_global_target_is_accepted_for_endpoints_and_the_profile(events: EmailEvents, tmp_path: Path,
                                                                    key: str) -> None:
    client = _client(events, tmp_path)
    status, body = _call(client, "POST", "/api/customer/webhooks", key, {"url": PUBLIC})
    assert (status, body["webhook"]["url"]) == (201, PUBLIC)
    status, body = _call(client, "PATCH", "/api/customer/profile", key, {"webhook_url": PUBLIC})
    assert (status, body["customer"]["webhook_url"]) == (200, PUBLIC)
    assert body["webhook_secret"].startswith("whsec_")
    status, body = _call(client, "PATCH", "/api/customer/profile", key, {"webhook_url": None})
    assert (status, body["customer"]["webhook_url"]) == (200, None)  # clearing needs no check


def test_the_operator_setting_allows_loopback_and_http_for_endpoints_and_the_profile(
        events: EmailEvents, tmp_path: Path, key: str) -> None:
    client = _client(events, tmp_path, allow_private="1")
    for url in ["http://127.0.0.1:9/h", "https://[::1]:8443/h", "http://localhost/h"]:
        assert _call(client, "POST", "/api/customer/webhooks", key, {"url": url})[0] == 201, url
        status, body = _call(client, "PATCH", "/api/customer/profile", key, {"webhook_url": url})
        assert (status, body["customer"]["webhook_url"]) == (200, url)


def test_the_dotted_ipv4_mapped_literal_is_not_even_a_valid_url(events: EmailEvents, tmp_path: Path,
                                                                key: str) -> None:
    client, before = _client(events, tmp_path), _head(events)
    invalid = {"error": "validation_error", "message": "the request is invalid"}
    assert _call(client, "POST", "/api/customer/webhooks", key, {"url": "https://[::ffff:127.0.0.1]/"}) == (
        400, {**invalid, "details": {"url": ["Not a valid URL."]}})
    assert _call(client, "PATCH", "/api/customer/profile", key, {"webhook_url": "https://[::ffff:127.0.0.1]/"}
                 ) == (400, {**invalid, "details": {"webhook_url": ["Not a valid URL."]}})
    assert _head(events) == before


def test_an_unknown_endpoint_is_404_before_its_url_is_judged(events: EmailEvents, tmp_path: Path,
                                                              key: str) -> None:
    client = _client(events, tmp_path)
    _call(client, "POST", "/api/customer/webhooks", key, {"url": PUBLIC})
    status, body = _call(client, "PATCH", "/api/customer/webhooks/00000000-0000-4000-8000-000000000001",
                         key, {"url": "https://127.0.0.1/"})
    assert (status, body["error"]) == (404, "not_found")
