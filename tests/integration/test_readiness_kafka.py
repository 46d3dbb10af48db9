"""``/readyz`` and ``/metrics`` on the real services: each consumer group's committed offsets
against the topic's end (read from Kafka, not from the event store's tracking table), and a read
model that is behind by more than ``MAILERLOGIC_READY_MAX_LAG`` or empty makes the API not ready.

Records go to chosen partitions of a fresh topic and offsets are committed for the topic's own
groups (``projector.<topic>``...) through a real consumer, so every figure is known exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import pytest
from flask import Flask
from kafka import KafkaConsumer
from kafka import KafkaProducer
from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata
from prometheus_client.parser import text_string_to_metric_families

from commands.messages import SendEmail
from event_store.application import EmailEvents
from event_store.feed import NotificationFeed
from event_store.kafka_publisher import ensure_topics
from mailerlogic.config import Settings
from projections import events as events_table
from tests.conftest import require_service
from tests.helpers import bus_for
from tests.helpers import new_customer
from warehouse import schema
from warehouse.clients import connect
from warehouse.port import ClickHouse
from web.app import create_app

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

# Records per partition of the topic: 10 in all.
RECORDS = {0: 5, 1: 3, 2: 2}


@pytest.fixture
def topic(bootstrap: str) -> str:
    """A fresh topic of three partitions holding :data:`RECORDS`."""
    name = f"ml-ready-{uuid4().hex[:8]}"
    ensure_topics(bootstrap, [name], partitions=3)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for partition, count in RECORDS.items():
        for n in range(count):
            producer.send(name, value=f"{partition}-{n}".encode(), partition=partition)
    producer.flush(timeout=30)
    producer.close()
    return name


@pytest.fixture
def read_model(server_url: str) -> Iterator[ClickHouse]:
    """An empty read model (schema applied) in a throwaway database of the real server."""
    name = f"ml_test_{uuid4().hex[:12]}"
    client = connect(urlsplit(server_url)._replace(path=f"/{name}").geturl(), Path("unused"))
    schema.apply(client)
    yield client
    client.execute(f"DROP DATABASE IF EXISTS {name}")
    client.close()


def _commit(bootstrap: str, group: str, offsets: dict[int, int], topic: str) -> None:
    """Commit ``offsets`` (partition -> next offset) for ``group``, as its members would."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    consumer.commit({TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()})
    consumer.close()


def _app(tmp_path: Path, topic: str, read_model: ClickHouse, events: EmailEvents, **env: str) -> Flask:
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k",
                                  "KAFKA_BOOTSTRAP_SERVERS": require_service("KAFKA_BOOTSTRAP_SERVERS"),
                                  "MAILERLOGIC_KAFKA_TOPIC": topic, **env})
    return create_app(settings, events=events, clickhouse=lambda: read_model)


def _events(sends: int, relay_at: int | None = None) -> EmailEvents:
    """An event store with a customer (4 notifications) and ``sends`` messages; the relay's
    position recorded at ``relay_at`` (default: the head)."""
    events = EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    bus = bus_for(events, b"k")
    customer, _ = new_customer(bus, "acme.test")
    for n in range(sends):
        bus.handle(SendEmail(customer.id, f"r{n}@example.org", "Hi", None, "t"))
    feed = NotificationFeed(events)
    feed.record("relay", feed.head() if relay_at is None else relay_at)
    return events


def _project(events: EmailEvents, read_model: ClickHouse) -> None:
    """What the projector writes for every published event of the store."""
    page = NotificationFeed(events).read(0, 1000)
    read_model.insert(events_table.TABLE, events_table.COLUMNS, events_table.rows(page.envelopes))


def _ready(app: Flask) -> tuple[int, dict[str, Any]]:
    response = app.test_client().get("/readyz")
    return response.status_code, response.get_json()


def _gauges(app: Flask) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = app.test_client().get("/metrics").get_data(as_text=True)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if s.name.startswith("mailerlogic_reader_")}


def test_each_group_reports_its_committed_offsets_against_the_topics_end(
        tmp_path: Path, bootstrap: str, topic: str, read_model: ClickHouse) -> None:
    _commit(bootstrap, f"projector.{topic}", {0: 5, 1: 1}, topic)  # 6 of 10; partition 2 never
    _commit(bootstrap, f"webhooks.{topic}", {0: 2, 1: 3, 2: 2}, topic)  # 7 of 10
    app = _app(tmp_path, topic, read_model, _events(sends=0))

    status, body = _ready(app)

    assert status == 200
    kafka = body["checks"]["kafka"]
    assert (kafka["ok"], kafka["topic"], kafka["end_offset"]) == (True, topic, 10)
    assert kafka["groups"] == {
        "projector": {"group": f"projector.{topic}", "committed": 6, "lag": 4},
        "delivery": {"group": f"delivery.{topic}", "committed": 0, "lag": 10},
        "webhooks": {"group": f"webhooks.{topic}", "committed": 7, "lag": 3},
        "exports": {"group": f"exports.{topic}", "committed": 0, "lag": 10},
    }
    store = body["checks"]["event_store"]
    assert (store["position"], store["lag_source"]) == (4, "kafka")
    assert store["lag"] == {"relay": 0, "projector": 4, "delivery": 10, "webhooks": 3, "exports": 10}
    assert {k: body["checks"]["read_model"][k] for k in ("ok", "empty", "behind")} == {
        "ok": True, "empty": True, "behind": 4}  # nothing published yet: empty is right

    gauges = _gauges(app)
    lag = {dict(labels)["reader"]: value for (name, labels), value in gauges.items()
           if name == "mailerlogic_reader_lag_events"}
    assert lag == {"relay": 0, "projector": 4, "delivery": 10, "webhooks": 3, "exports": 10}
    projector = (("reader", "projector"), ("source", "kafka"))
    assert gauges["mailerlogic_reader_committed_position", projector] == 6
    assert gauges["mailerlogic_reader_end_position", projector] == 10
    assert gauges["mailerlogic_reader_committed_position", (("reader", "relay"), ("source", "log"))] == 4


def test_a_projector_behind_by_more_than_the_bound_is_not_ready(
        tmp_path: Path, bootstrap: str, topic: str, read_model: ClickHouse) -> None:
    events = _events(sends=2, relay_at=4)  # head 6: the relay is 2 behind
    _project(events, read_model)
    _commit(bootstrap, f"projector.{topic}", {0: 5, 1: 1}, topic)  # 4 behind the topic's end

    status, body = _ready(_app(tmp_path, topic, read_model, events, MAILERLOGIC_READY_MAX_LAG="5"))

    assert (status, body["status"]) == (503, "not_ready")
    check = body["checks"]["read_model"]
    assert {k: check[k] for k in ("ok", "empty", "behind", "max_lag")} == {
        "ok": False, "empty": False, "behind": 6, "max_lag": 5}
    assert check["error"] == "the projector is 6 events behind the event store (bound 5)"
    assert all(body["checks"][name]["ok"] for name in ("event_store", "clickhouse", "kafka"))

    _commit(bootstrap, f"projector.{topic}", {1: 3}, topic)  # now 2 behind: 4 in all
    status, body = _ready(_app(tmp_path / "again", topic, read_model, events, MAILERLOGIC_READY_MAX_LAG="5"))
    assert (status, body["checks"]["read_model"]["behind"]) == (200, 4)


def test_an_empty_read_model_is_not_ready_while_the_event_store_holds_events(
        tmp_path: Path, bootstrap: str, topic: str, read_model: ClickHouse) -> None:
    events = _events(sends=2)
    _commit(bootstrap, f"projector.{topic}", RECORDS, topic)  # caught up: the tables were wiped

    status, body = _ready(_app(tmp_path, topic, read_model, events))

    assert (status, body["status"]) == (503, "not_ready")
    check = body["checks"]["read_model"]
    assert {k: check[k] for k in ("ok", "empty", "behind")} == {"ok": False, "empty": True, "behind": 0}
    assert check["error"] == "the read model is empty while the event store holds published events"

    _project(events, read_model)
    status, body = _ready(_app(tmp_path / "again", topic, read_model, events))
    assert (status, body["checks"]["read_model"]["empty"]) == (200, False)
