"""``/readyz``: every dependency with its latency, 503 when one is down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from event_store.application import EmailEvents
from mailerlogic.app import create_app
from mailerlogic.config import Settings
from tests.helpers import bus_for
from tests.helpers import new_customer


class Up:
    def execute(self, sql: str) -> list[tuple[int]]:
        return [(1,)]


def _app(tmp_path: Path, clickhouse: Any, **env: str) -> Any:
    events = EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    new_customer(bus_for(events, b"k"), "acme.test")  # 3 notifications
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k",
                                  **env})
    return create_app(settings, events=events, clickhouse=clickhouse)


def test_ready_with_lag_per_reader(tmp_path: Path) -> None:
    response = _app(tmp_path, lambda: Up()).test_client().get("/readyz")
    body = response.get_json()
    assert (response.status_code, body["status"]) == (200, "ready")
    assert body["checks"]["event_store"]["lag"] == {"relay": 3, "projector": 3, "delivery": 3,
                                                    "webhooks": 3, "exports": 3}
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
