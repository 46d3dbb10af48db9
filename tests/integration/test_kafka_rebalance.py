"""A rebalance in the middle of a batch, on a real broker: no position is written twice.

Member A polls every record of the topic into one open batch (it flushes only after 8 s);
member B joins the group meanwhile. The rebalance revokes A's partitions while A's batch is
still open: A must drop those records (their new owner reads them from the last commit) rather
than write them beside B. The two members' first writes are made to meet (each one's first
"which positions are stored?" lookup waits for the other's), as two flushes at the same moment
do: before the fix A wrote its whole batch while B wrote its half, and ``event_positions``
held B's positions twice.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import pytest

from consumers import loop
from consumers.clickhouse_sink import ClickHouseSink
from consumers.kafka_source import KafkaSource
from consumers.records import Record
from event_store.kafka_publisher import KafkaPublisher
from event_store.kafka_publisher import ensure_topics
from tests.conftest import require_service
from tests.fakes import ListDeadLetters
from tests.helpers import envelope
from tests.integration.conftest import SERVER_URL
from warehouse import schema
from warehouse.clients import connect
from warehouse.port import ClickHouse

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]
EVENTS = 400


class FirstLookupMeets:
    """Forwards to a client; its first positions lookup waits for the other member's first."""

    def __init__(self, client: ClickHouse, barrier: threading.Barrier) -> None:
        self.client, self.barrier, self.waited = client, barrier, False

    def execute(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        rows = self.client.execute(sql, params)
        if not self.waited and sql.startswith("SELECT position FROM event_positions"):
            self.waited = True
            self.barrier.wait(timeout=30)
        return rows

    def insert(self, table: str, columns: Any, rows: Any) -> None:
        self.client.insert(table, columns, rows)


class Watched:
    """A source that counts what it polled and remembers the revocations it reported."""

    def __init__(self, source: KafkaSource) -> None:
        self.source = source
        self.polled = 0
        self.revocations: list[frozenset[int]] = []

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        records = self.source.poll(max_records, timeout_s)
        self.polled += len(records)
        return records

    def commit(self, offsets: dict[int, int]) -> None:
        self.source.commit(offsets)

    def revoked(self) -> frozenset[int]:
        taken = self.source.revoked()
        if taken:
            self.revocations.append(taken)
        return taken

    def close(self) -> None:
        self.source.close()


def _client(database: str) -> ClickHouse:
    return connect(urlsplit(SERVER_URL)._replace(path=f"/{database}").geturl(), Path("unused"))


def _wait(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_member_drops_the_records_of_partitions_revoked_mid_batch() -> None:
    bootstrap = require_service("KAFKA_BOOTSTRAP_SERVERS")
    topic, group, database = (f"ml-rebalance-{uuid4().hex[:8]}", f"g-{uuid4().hex[:6]}",
                              f"ml_test_{uuid4().hex[:12]}")
    ensure_topics(bootstrap, [topic], partitions=4)
    customer_id = uuid4()
    publisher = KafkaPublisher(bootstrap, topic)
    publisher.publish([envelope("queued", n + 1, customer_id=customer_id) for n in range(EVENTS)])
    publisher.close()
    admin = _client("default")
    admin.execute(f"CREATE DATABASE {database}")
    clients = [_client(database), _client(database)]
    schema.apply(clients[0])
    stop, failures = threading.Event(), list[BaseException]()
    barrier = threading.Barrier(2)

    def member(source: Watched, client: ClickHouse, limits: loop.Limits) -> None:
        try:
            loop.run(source, ClickHouseSink(FirstLookupMeets(client, barrier)), ListDeadLetters(),
                     limits, stop)
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            source.close()

    try:
        a = Watched(KafkaSource(bootstrap, topic, group))
        first = threading.Thread(target=member, args=(a, clients[0], loop.Limits(max_wait_s=8.0)))
        first.start()
        _wait(lambda: a.polled >= EVENTS, 30, "member A to poll every record")
        b = Watched(KafkaSource(bootstrap, topic, group))
        second = threading.Thread(target=member, args=(b, clients[1], loop.Limits(max_wait_s=0.5)))
        second.start()
        stored = lambda: admin.execute(  # noqa: E731
            f"SELECT uniqExact(position) FROM {database}.event_positions")[0][0]
        _wait(lambda: failures or stored() == EVENTS, 60,  # a hung join is replaced after 15 s
              "every position to be stored")
        assert failures == []
        time.sleep(9)  # longer than A's batch wait: a stale write of A's would land now
        stop.set()
        first.join(timeout=30)
        second.join(timeout=30)
        assert failures == []
        assert a.revocations, "the rebalance did not happen while A's batch was open"
        assert admin.execute(f"SELECT count(), uniqExact(position) FROM {database}.event_positions") == [
            (EVENTS, EVENTS)]
        assert admin.execute(f"SELECT count() FROM {database}.stats_duplicates") == [(0,)]
    finally:
        stop.set()
        admin.execute(f"DROP DATABASE IF EXISTS {database}")
        for client in (*clients, admin):
            client.close()
