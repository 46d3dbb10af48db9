"""ClickHouse side of the benchmarks: bench databases, the native-pipe table, counts, quiet waits."""

from __future__ import annotations

import time
from typing import Any

from clickhouse_driver import Client

from bench.common import Services
from warehouse.schema import quote

# The envelope's top-level scalars; `payload` is skipped (input_format_skip_unknown_fields).
# Same engine, partitioning and order as `events` (projections/ddl/01_events.sql).
NATIVE_TABLE = "events_native"
NATIVE_DDL = """CREATE TABLE {db}.events_native
(
    event_id UUID,
    event_type String,
    schema_version UInt8,
    customer_id UUID,
    email_id Nullable(UUID),
    occurred_at DateTime('UTC'),
    recorded_at DateTime('UTC'),
    position UInt64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (customer_id, occurred_at, event_id)"""


def admin(services: Services) -> Client:
    """A driver client on the ``default`` database, for bench bookkeeping only."""
    return Client(host=services.ch_host, port=services.ch_port, user=services.ch_user,
                  password=services.ch_password, database="default")


def create_native(client: Client, database: str) -> None:
    """A fresh database holding the native-pipe table."""
    client.execute(f"CREATE DATABASE {quote(database)}")
    client.execute(NATIVE_DDL.format(db=quote(database)))


def count(client: Client, database: str, table: str) -> int:
    """``SELECT count()`` of ``database.table``."""
    rows: Any = client.execute(f"SELECT count() FROM {quote(database)}.{quote(table)}")
    return int(rows[0][0])


def drop(client: Client, databases: list[str]) -> None:
    """Drop the run's databases."""
    for database in databases:
        client.execute(f"DROP DATABASE IF EXISTS {quote(database)}")


def wait_quiet(client: Client, timeout_s: float = 60.0) -> float:
    """Wait (bounded) until the server runs no merge, so one measurement does not pay for another."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        rows: Any = client.execute("SELECT count() FROM system.merges")
        if not rows[0][0]:
            break
        time.sleep(0.5)
    return time.monotonic() - start
