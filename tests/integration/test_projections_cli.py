"""``mailerlogic projections rebuild`` and ``reset-offsets`` as an operator runs them: on the real
services (PostgreSQL event store, ClickHouse server, Kafka) and on the embedded log."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from click.testing import CliRunner
from kafka import KafkaConsumer
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata
from kafka.structs import TopicPartition

from event_store.application import open_application
from event_store.feed import NotificationFeed
from mailerlogic.cli import main
from read_api.views import outbound_totals
from tests.conftest import require_service
from tests.support.stored_story import AT
from tests.support.stored_story import TOTALS
from tests.support.stored_story import store_story
from warehouse.clients import connect


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    """The CLI with ``env``; exit code and output."""
    done = CliRunner().invoke(main, list(args), env=env)
    return done.exit_code, done.output


@pytest.mark.clickhouse
@pytest.mark.postgres
def test_rebuild_on_the_services_replays_the_postgresql_event_store(
        tmp_path: Path, postgres_url: str, clickhouse_url: str) -> None:
    store = open_application(postgres_url, "unused")
    a, b = store_story(store), store_story(store)
    env = {"MAILERLOGIC_DATA_DIR": str(tmp_path), "EVENT_STORE_URL": postgres_url,
           "CLICKHOUSE_URL": clickhouse_url, "MAILERLOGIC_SECRET_KEY": "k"}

    code, out = run(env, "projections", "rebuild", "--quiet")

    assert code == 0, out
    assert out.startswith("rebuilt events, event_positions, stats_hourly, health_history, "
                          "suppressions, stats_duplicates: 30 rows replayed up to position "), out
    client = connect(clickhouse_url, tmp_path)
    window = {"start": AT - timedelta(days=1), "end": datetime.now(UTC) + timedelta(hours=1)}
    assert outbound_totals(client, customer_id=a, **window) == TOTALS
    assert outbound_totals(client, customer_id=b, **window) == TOTALS
    code, out = run(env, "projections", "rebuild", "--table", "events")
    assert code == 2 and "rebuilt only with every table" in out
    code, out = run(env, "projections", "rebuild", "--table", "nope")
    assert code == 2 and "unknown table(s) nope" in out
    client.close()


@pytest.fixture
def topic() -> Iterator[str]:
    """A fresh 3-partition topic with 5 records on each partition."""
    bootstrap, name = require_service("KAFKA_BOOTSTRAP_SERVERS"), f"ml-reset-{uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(name, 3, 1)])
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for partition in range(3):
        for n in range(5):
            producer.send(name, value=b"x%d" % n, partition=partition)
    producer.flush()
    producer.close()
    yield name
    admin.delete_topics([name])
    admin.close()


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets per partition."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    found = admin.list_group_offsets({group: None})[group]
    admin.close()
    return {tp.partition: meta.offset for tp, meta in sorted(found.items()) if tp.topic == topic}


@pytest.mark.kafka
def test_reset_offsets_of_a_kafka_group_refuses_while_it_has_members(tmp_path: Path,
                                                                     topic: str) -> None:
    bootstrap = require_service("KAFKA_BOOTSTRAP_SERVERS")
    group = f"projector.{topic}"  # the group of `consume projector` on this topic
    env = {"MAILERLOGIC_DATA_DIR": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "MAILERLOGIC_KAFKA_TOPIC": topic, "MAILERLOGIC_SECRET_KEY": "k"}
    member = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                           auto_offset_reset="earliest")
    member.subscribe([topic])
    read = 0
    while read < 15:
        read += sum(len(records) for records in member.poll(1000).values())
    member.commit({TopicPartition(topic, p): OffsetAndMetadata(3, "", -1) for p in range(3)})

    code, out = run(env, "projections", "reset-offsets", "--group", "projector")
    assert code == 1 and f"consumer group '{group}' has 1 active member(s)" in out
    member.close()

    code, out = run(env, "projections", "reset-offsets", "--group", "projector", "--to-earliest")
    assert code == 0, out
    assert committed(bootstrap, group, topic) == {0: 0, 1: 0, 2: 0}
    assert out.splitlines()[-1] == f"consumer group {group} on {topic} reset to the earliest offsets"
    code, out = run(env, "projections", "reset-offsets", "--group", "projector", "--to-latest")
    assert code == 0, out
    assert committed(bootstrap, group, topic) == {0: 5, 1: 5, 2: 5}
    assert out.splitlines()[:3] == ["partition 0: offset 5", "partition 1: offset 5",
                                    "partition 2: offset 5"]


def test_reset_offsets_of_the_embedded_log(tmp_path: Path) -> None:
    store = open_application(None, str(tmp_path / "events.sqlite"))
    store_story(store)
    feed = NotificationFeed(store)
    feed.record("projector", 9)
    env = {"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k", "PORT": "9"}

    code, out = run(env, "projections", "reset-offsets", "--group", "projector")
    assert (code, out) == (0, "reader projector: position 9 -> 0 (earliest) in the event store's log\n")
    assert feed.position("projector") == 0
    code, out = run(env, "projections", "reset-offsets", "--group", "projector", "--to-latest")
    assert code == 0 and feed.position("projector") == feed.head() == 16

    with serving() as port:  # run-all answers: its readers hold their positions in memory
        code, out = run({**env, "PORT": str(port)}, "projections", "reset-offsets", "--group",
                        "delivery", "--to-earliest")
    assert code == 1 and "a process serves the API at http://127.0.0.1:" in out
    assert feed.position("projector") == 16


class _Healthy(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args: object) -> None:
        pass


class serving:  # noqa: N801 - used as a context manager
    """An HTTP server on a free loopback port answering 200 (as run-all's /healthz does)."""

    def __enter__(self) -> int:
        self.server = http.server.HTTPServer(("127.0.0.1", 0), _Healthy)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.server.server_address[1]

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.postgres
def test_a_reader_is_rewound_on_postgresql(postgres_url: str) -> None:
    feed = NotificationFeed(open_application(postgres_url, "unused"))
    feed.record("projector", 50)
    feed.rewind("projector", 10)
    assert feed.position("projector") == 10
    feed.rewind("projector", 0)
    assert feed.position("projector") == 0
    feed.record("projector", 3)
    assert feed.position("projector") == 3
