"""Two sinks writing the same positions at the same moment (a rebalance race) still count once.

The race is forced, not hoped for: each sink's "which positions are stored?" lookup waits at a
barrier until the other one has looked too, so both find nothing and both insert every event.
``event_positions`` then holds every position twice (proof that the race happened), and every
number of the read API is still the one of a single write.
"""

from __future__ import annotations

import threading
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

from consumers.clickhouse_sink import ClickHouseSink
from consumers.clickhouse_sink import sweep_duplicates
from projections import events
from read_api import series
from read_api import views
from tests.helpers import envelope
from warehouse.clients import ChdbClient
from warehouse.clients import connect
from warehouse.port import ClickHouse

T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)


class LookupBarrier:
    """Forwards to a client; after the positions lookup it waits for the other sink's lookup."""

    def __init__(self, client: ClickHouse, barrier: threading.Barrier) -> None:
        self.client, self.barrier = client, barrier

    def execute(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        rows = self.client.execute(sql, params)
        if sql.startswith("SELECT position FROM event_positions"):
            self.barrier.wait(timeout=30)
        return rows

    def insert(self, table: str, columns: Any, rows: Any) -> None:
        self.client.insert(table, columns, rows)


def _second_client(clickhouse: ClickHouse) -> ClickHouse:
    """Another connection to the same database (chdb's one session is shared by threads)."""
    if isinstance(clickhouse, ChdbClient):
        return clickhouse
    database = clickhouse.execute("SELECT currentDatabase()")[0][0]
    from tests.integration.conftest import SERVER_URL

    return connect(urlsplit(SERVER_URL)._replace(path=f"/{database}").geturl(), Path("unused"))


def _story(customer_id: Any) -> list[Any]:
    events = []
    for n in range(50):
        email_id = uuid4()
        at = T0 + timedelta(minutes=n)
        events.append(envelope("queued", 3 * n + 1, customer_id=customer_id, email_id=email_id, at=at))
        events.append(envelope("delivered", 3 * n + 2, customer_id=customer_id, email_id=email_id, at=at))
        if n % 5 == 0:
            events.append(envelope("opened", 3 * n + 3, customer_id=customer_id, email_id=email_id, at=at,
                                   scanner_score=0))
    return events


def test_two_sinks_racing_on_the_same_positions_count_each_event_once(clickhouse: ClickHouse) -> None:
    customer_id = uuid4()
    batch = _story(customer_id)
    other = _second_client(clickhouse)
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def write(client: ClickHouse) -> None:
        try:
            ClickHouseSink(LookupBarrier(client, barrier)).write(batch)
        except BaseException as exc:  # reported below, never swallowed
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(c,)) for c in (clickhouse, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert clickhouse.execute("SELECT count(), uniqExact(position) FROM event_positions") == [(220, 110)]
    assert clickhouse.execute("SELECT uniqExact(position), any(customer_id) FROM stats_duplicates") == [
        (110, customer_id)]

    totals = views.outbound_totals(clickhouse, customer_id=customer_id, start=T0, end=T0 + timedelta(hours=2))
    assert (totals["sent"], totals["delivered"], totals["opens"], totals["unique_opens"]) == (50, 50, 10, 10)
    assert totals["delivery_rate"] == 100.0
    hourly = series.series(clickhouse, kind="sends", customer_id=customer_id, start=T0,
                           end=T0 + timedelta(hours=2), interval="hour")
    assert [(d["date"], d["sent"]) for d in hourly["days"]] == [
        ("2026-11-30T09:00:00Z", 45), ("2026-11-30T10:00:00Z", 5), ("2026-11-30T11:00:00Z", 0)]
    assert hourly["total"]["sent"] == 50
    if other is not clickhouse:
        other.close()


def test_the_startup_sweep_lists_what_a_writer_that_died_before_its_check_left(
        clickhouse: ClickHouse) -> None:
    customer_id = uuid4()
    batch = _story(customer_id)
    ClickHouseSink(clickhouse).write(batch)
    # A second writer inserted a part of it again and died before looking (the insert alone).
    again = [e for e in batch if e.position <= 10]
    clickhouse.insert(events.TABLE, events.COLUMNS, events.rows(again))
    totals = views.outbound_totals(clickhouse, customer_id=customer_id, start=T0, end=T0 + timedelta(hours=2))
    assert totals["sent"] == 54  # the fast sum counts the 4 repeated sends twice until listed
    assert sweep_duplicates(clickhouse) == 8
    assert sweep_duplicates(clickhouse) == 8  # idempotent
    assert clickhouse.execute("SELECT count() FROM stats_duplicates FINAL") == [(8,)]
    totals = views.outbound_totals(clickhouse, customer_id=customer_id, start=T0, end=T0 + timedelta(hours=2))
    assert (totals["sent"], totals["delivered"], totals["opens"]) == (50, 50, 10)


def test_a_replayed_batch_after_a_crash_between_insert_and_check_is_listed_by_the_replay(
        clickhouse: ClickHouse) -> None:
    customer_id = uuid4()
    batch = _story(customer_id)
    clickhouse.insert(events.TABLE, events.COLUMNS, events.rows(batch))  # writer A, then died
    clickhouse.insert(events.TABLE, events.COLUMNS, events.rows(batch[:6]))  # zombie B's copy
    ClickHouseSink(clickhouse).write(batch)  # A's batch replayed: nothing inserted, 6 listed
    assert clickhouse.execute("SELECT count() FROM event_positions") == [(116,)]
    assert clickhouse.execute("SELECT count() FROM stats_duplicates FINAL") == [(6,)]
    totals = views.outbound_totals(clickhouse, customer_id=customer_id, start=T0, end=T0 + timedelta(hours=2))
    assert (totals["sent"], totals["delivered"], totals["opens"]) == (50, 50, 10)


def test_a_stats_table_of_the_counting_schema_is_refused_with_the_rebuild_command(
        empty_clickhouse: ClickHouse) -> None:
    from warehouse import schema

    database = empty_clickhouse.execute("SELECT currentDatabase()")[0][0]
    empty_clickhouse.execute(
        f"CREATE TABLE {database}.stats_hourly (customer_id UUID, hour DateTime('UTC'), event_type String,"
        " domain_id UUID, tag String, scanner_class UInt8, bounce_type String,"
        " events AggregateFunction(count), emails AggregateFunction(uniqExact, UUID))"
        " ENGINE = AggregatingMergeTree() PARTITION BY toYYYYMM(hour)"
        " ORDER BY (customer_id, hour, event_type, domain_id, tag, scanner_class, bounce_type)")
    try:
        schema.apply(empty_clickhouse)
    except schema.SchemaOutdated as exc:
        message = str(exc)
    else:
        message = "applied"
    assert message == (
        f"{database}.stats_hourly.events is AggregateFunction(count), this version needs "
        "AggregateFunction(uniqExact, UInt64): run `mailerlogic projections rebuild --table stats_hourly` "
        "(it rebuilds the table from the event store and swaps it in)")
