"""``GET /metrics``: exact request counts by rule and status, latency, events appended, lag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from event_store.application import EmailEvents
from mailerlogic.config import Settings
from tests.helpers import bus_for
from tests.helpers import new_customer
from web.app import create_app

SECRET = b"test-secret"


def samples(app: Flask) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by name and sorted labels."""
    response = app.test_client().get("/metrics")  # no key: operators scrape it
    assert (response.status_code, response.mimetype) == (200, "text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for s in family.samples}


def requests(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str = "total") -> dict[
        tuple[str, str, str], float]:
    """``(method, endpoint, status) -> value`` of the request counter (or histogram ``count``)."""
    metric = {"total": "mailerlogic_http_requests_total",
              "count": "mailerlogic_http_request_duration_seconds_count"}[name]
    return {(labels["method"], labels["endpoint"], labels["status"]): value
            for (sample, pairs), value in found.items() if sample == metric
            for labels in [dict(pairs)] if labels["endpoint"] != "/metrics"}


@pytest.fixture
def events() -> EmailEvents:
    return EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def key(events: EmailEvents) -> str:
    return str(new_customer(bus_for(events, SECRET), "acme.test")[1])  # before the app: not counted


@pytest.fixture
def app(events: EmailEvents, key: str, tmp_path: Path) -> Flask:
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path),
                                  "MAILERLOGIC_SECRET_KEY": SECRET.decode()})

    def no_clickhouse() -> Any:
        raise AssertionError("not used")

    built = create_app(settings, events=events, clickhouse=no_clickhouse)
    built.extensions["usage"] = lambda customer_id: 0
    return built


def test_requests_are_counted_by_rule_and_status(app: Flask, key: str) -> None:
    client = app.test_client()
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    for _ in range(2):
        assert client.post("/api/send", json={}).status_code == 401  # refused before the view
    assert client.post("/api/v1/send", json={"to": "ada@example.org", "subject": "Hi", "text": "x"},
                       headers={"X-API-Key": key}).status_code == 200
    assert client.post("/api/v1/send", json={"to": "nope"}, headers={"X-API-Key": key}).status_code == 400
    assert client.get("/api/customer/domains/not-a-uuid", headers={"X-API-Key": key}).status_code == 404
    assert client.get("/no/such/page").status_code == 404
    assert client.delete("/healthz").status_code == 405
    expected = {("GET", "/healthz", "200"): 3.0, ("POST", "/api/send", "401"): 2.0,
                ("POST", "/api/v1/send", "200"): 1.0, ("POST", "/api/v1/send", "400"): 1.0,
                ("GET", "/api/customer/domains/<domain_id>", "404"): 1.0,
                ("GET", "unmatched", "404"): 1.0, ("DELETE", "unmatched", "405"): 1.0}
    found = samples(app)
    assert requests(found) == expected
    assert requests(found, "count") == expected


def test_latency_buckets_are_cumulative_and_end_at_the_count(app: Flask) -> None:
    for _ in range(4):
        app.test_client().get("/healthz")
    found = samples(app)
    labels = (("endpoint", "/healthz"), ("method", "GET"), ("status", "200"))
    inf_labels = tuple(sorted((*labels, ("le", "+Inf"))))
    inf = found[("mailerlogic_http_request_duration_seconds_bucket", inf_labels)]
    assert inf == 4.0
    assert 0 < found[("mailerlogic_http_request_duration_seconds_sum", labels)] < 4 * 10


def test_events_appended_are_counted_by_type(app: Flask, key: str, events: EmailEvents) -> None:
    client = app.test_client()
    for n in range(3):
        body = {"to": f"r{n}@example.org", "subject": "Hi", "text": "x"}
        assert client.post("/api/send", json=body, headers={"X-API-Key": key}).status_code == 200
    assert client.post("/api/customer/unsubscribes", json={"email": "gone@example.org"},
                       headers={"X-API-Key": key}).status_code == 201
    found = samples(app)
    appended = {dict(pairs)["type"]: value for (name, pairs), value in found.items()
                if name == "mailerlogic_events_appended_total"}
    assert appended == {"Message.Queued": 3.0, "Suppression.Started": 1.0, "Suppression.Added": 1.0}
    head = events.recorder_.max_notification_id()
    assert found[("mailerlogic_event_store_position", ())] == head
    lag = {dict(pairs)["reader"]: value for (name, pairs), value in found.items()
           if name == "mailerlogic_reader_lag_events"}
    assert lag == {"relay": head, "projector": head, "delivery": head, "webhooks": head, "exports": head}


def test_each_app_counts_only_its_own_requests(app: Flask, events: EmailEvents, tmp_path: Path) -> None:
    other = create_app(Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path / "other"),
                                          "MAILERLOGIC_SECRET_KEY": "k"}),
                       events=EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}),
                       clickhouse=lambda: None)
    other.test_client().get("/healthz")
    app.test_client().get("/readyz")
    assert requests(samples(other)) == {("GET", "/healthz", "200"): 1.0}


def test_reader_positions_on_the_embedded_default_are_log_positions(app: Flask, events: EmailEvents) -> None:
    from event_store.feed import NotificationFeed

    NotificationFeed(events).record("projector", 2)
    found = samples(app)
    head = events.recorder_.max_notification_id()
    assert found[("mailerlogic_reader_committed_position", (("reader", "projector"), ("source", "log")))] == 2
    assert found[("mailerlogic_reader_end_position", (("reader", "projector"), ("source", "log")))] == head
    assert found[("mailerlogic_reader_lag_events", (("reader", "projector"),))] == head - 2
