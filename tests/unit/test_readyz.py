"""``/readyz``: every dependency with its latency, 503 when one is down or when the read model is
empty or too far behind (embedded default: lags are the readers' log positions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from commands.messages import SendEmail
from event_store.application import EmailEvents
from event_store.feed import NotificationFeed
from mailerlogic.config import Settings
from tests.helpers import bus_for
from tests.helpers import new_customer
from web.app import create_app
from web.readiness import EMPTY_SQL


class Up:
    def execute(self, sql: str) -> list[tuple[int]]:
        return [(1,)]


def _app(tmp_path: Path, clickhouse: Any, **env: str) -> Any:
    events = EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    new_customer(bus_for(events, b"k"), "acme.test")  # 4 notifications (with the domain claim)
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k",
                                  **env})
    return create_app(settings, events=events, clickhouse=clickhouse)


def test_ready_with_lag_per_reader(tmp_path: Path) -> None:
    response = _app(tmp_path, lambda: Up()).test_client().get("/readyz")
    body = response.get_json()
    assert (response.status_code, body["status"]) == (200, "ready")
    assert body["checks"]["event_store"]["lag"] == {"relay": 4, "projector": 4, "delivery": 4,
                                                    "webhooks": 4, "exports": 4}
    assert body["checks"]["event_store"]["lag_source"] == "log"
    assert set(body["checks"]) == {"event_store", "clickhouse", "read_model"}


def test_a_dependency_down_is_503_with_the_reason(tmp_path: Path) -> None:
    def down() -> Any:
        raise ConnectionError("clickhouse refused")

    closed = "127.0.0.1:1"
    response = _app(tmp_path, down, KAFKA_BOOTSTRAP_SERVERS=closed).test_client().get("/readyz")
    body = response.get_json()
    assert (response.status_code, body["status"]) == (503, "not_ready")
    assert body["checks"]["clickhouse"] == {"ok": False, "error": "ConnectionError: clickhouse refused"}
    assert body["checks"]["kafka"]["ok"] is False


class ReadModel:
    """A ClickHouse whose ``events`` table holds ``rows`` rows (at most one is ever read)."""

    def __init__(self, rows: int) -> None:
        self.rows = rows

    def execute(self, sql: str) -> list[tuple[int]]:
        return [(min(self.rows, 1),)] if sql == EMPTY_SQL else [(1,)]


def _sending_app(tmp_path: Path, rows: int, sends: int, **env: str) -> tuple[Any, EmailEvents]:
    events = EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    bus = bus_for(events, b"k")
    customer, _ = new_customer(bus, "acme.test")
    for n in range(sends):
        bus.handle(SendEmail(customer.id, f"r{n}@example.org", "Hi", None, "t"))
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k",
                                  **env})
    return create_app(settings, events=events, clickhouse=lambda: ReadModel(rows)), events


def test_an_empty_read_model_is_not_ready_once_the_event_store_holds_published_events(
        tmp_path: Path) -> None:
    app, events = _sending_app(tmp_path, rows=0, sends=1)
    NotificationFeed(events).record("projector", 5)  # the projector is done: the tables were wiped
    response = app.test_client().get("/readyz")
    check = response.get_json()["checks"]["read_model"]
    assert response.status_code == 503
    assert {k: check[k] for k in ("ok", "empty", "behind", "max_lag")} == {
        "ok": False, "empty": True, "behind": 0, "max_lag": 100_000}
    assert check["error"] == "the read model is empty while the event store holds published events"


def test_a_fresh_installation_with_an_empty_read_model_is_ready(tmp_path: Path) -> None:
    app, _ = _sending_app(tmp_path, rows=0, sends=0)  # customers only: nothing is published
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["read_model"]["empty"] is True


def test_a_projector_behind_by_more_than_the_bound_is_not_ready(tmp_path: Path) -> None:
    app, events = _sending_app(tmp_path, rows=2, sends=3, MAILERLOGIC_READY_MAX_LAG="2")  # head 7
    NotificationFeed(events).record("projector", 4)
    response = app.test_client().get("/readyz")
    check = response.get_json()["checks"]["read_model"]
    assert (response.status_code, check["ok"], check["behind"]) == (503, False, 3)
    assert check["error"] == "the projector is 3 events behind the event store (bound 2)"
    NotificationFeed(events).record("projector", 5)
    response = app.test_client().get("/readyz")
    assert (response.status_code, response.get_json()["checks"]["read_model"]["behind"]) == (200, 2)


def test_delivery_shards_report_the_slowest_shard(tmp_path: Path) -> None:
    app, events = _sending_app(tmp_path, rows=1, sends=3, MAILERLOGIC_DELIVERY_PROCESSES="2")
    feed = NotificationFeed(events)
    feed.record("delivery-1of2", 7)
    feed.record("delivery-2of2", 5)
    lag = app.test_client().get("/readyz").get_json()["checks"]["event_store"]["lag"]
    assert lag["delivery"] == 2


@pytest.mark.parametrize("value", ["0", "-1", "1e5", "lots"])
def test_the_lag_bound_is_a_whole_positive_number(value: str) -> None:
    with pytest.raises(ValueError, match="MAILERLOGIC_READY_MAX_LAG must be a whole number of events"):
        Settings.from_env({"MAILERLOGIC_DATA_DIR": "/tmp/unused", "MAILERLOGIC_SECRET_KEY": "k",
                           "MAILERLOGIC_WEBHOOK_SECRET": "w", "MAILERLOGIC_READY_MAX_LAG": value})


def test_a_consumer_retrying_a_dependency_makes_readiness_degraded(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    from consumers.status import StatusFile

    status = StatusFile(tmp_path / "status", "projector")
    client = _app(tmp_path, lambda: Up()).test_client()
    body = client.get("/readyz").get_json()
    assert (body["status"], [(c["name"], c["state"]) for c in body["consumers"]]) == (
        "ready", [("projector", "ok")])

    status.degraded("sink write: NetworkError: Code: 210. Connection refused (127.0.0.1:29000)")
    response = client.get("/readyz")
    body = response.get_json()
    assert (response.status_code, body["status"]) == (200, "degraded")
    assert [(c["name"], c["pid"], c["state"], c["reason"]) for c in body["consumers"]] == [
        ("projector", os.getpid(), "degraded",
         "sink write: NetworkError: Code: 210. Connection refused (127.0.0.1:29000)")]

    status.recovered()
    assert client.get("/readyz").get_json()["status"] == "ready"

    # A process that died degraded (kill -9) leaves a file that is ignored and removed.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    stale = tmp_path / "status" / f"delivery.{dead.stdout.strip()}.json"
    stale.write_text(json.dumps({"name": "delivery", "pid": int(dead.stdout), "state": "degraded",
                                 "reason": "x", "at": "-"}))
    status.remove()
    body = client.get("/readyz").get_json()
    assert (body["status"], body["consumers"], stale.exists()) == ("ready", [], False)
