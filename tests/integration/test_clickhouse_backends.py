"""Both backends (18.16 server and chdb): typed results, schema, exact sink, outbound totals."""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID
from uuid import uuid4

import pytest

from consumers.clickhouse_sink import ClickHouseSink
from consumers.clickhouse_sink import clusters
from event_store.envelope import Envelope
from projections import events
from read_api import views
from tests.helpers import envelope
from warehouse import schema
from warehouse.port import ClickHouse

T = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
WIDE = {"start": T - timedelta(hours=1), "end": T + timedelta(days=3)}
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
HUMAN = {"user_agent": CHROME, "ip": "203.0.113.5", "seconds_since_sent": 3600}
APPLE = {"user_agent": "Mozilla/5.0", "ip": "17.58.1.1", "seconds_since_sent": 120}
SUSPICIOUS = {"user_agent": "Mozilla/5.0", "ip": "198.51.100.7", "seconds_since_sent": 4000}
GATEWAY = {"user_agent": "Barracuda Sentinel (EE)", "ip": "64.235.1.1", "seconds_since_sent": 1}
D1, D2 = UUID(int=0xD1), UUID(int=0xD2)
ALL = {
    "sent": 5, "delivered": 3, "bounced": 1, "failed": 1, "opens": 4, "unique_opens": 3,
    "clicks": 2, "unique_clicks": 2, "complaints": 1, "unsubscribes": 1, "human_opens": 2,
    "scanner_opens": 1, "human_clicks": 1, "scanner_clicks": 1, "delivery_rate": 60.0,
    "open_rate": 100.0, "click_rate": 66.67, "bounce_rate": 20.0, "complaint_rate": 33.33,
}
ZERO = {key: 0.0 if key.endswith("_rate") else 0 for key in ALL}


def story(customer: UUID, first_position: int = 1) -> list[Envelope]:
    """Five messages: two on D1/welcome that engage, three on D2/news that go wrong."""
    steps: list[tuple[UUID, str, int, dict[str, Any]]] = [
        (D1, "queued", 0, {}), (D1, "sent", 1, {}), (D1, "delivered", 2, {"smtp_code": 250}),
        (D1, "opened", 60, HUMAN), (D1, "opened", 90, HUMAN), (D1, "clicked", 95, HUMAN),
        (D1, "queued", 0, {}), (D1, "sent", 1, {}), (D1, "delivered", 2, {}),
        (D1, "opened", 3, APPLE), (D1, "clicked", 3, GATEWAY),
        (D2, "queued", 0, {}), (D2, "sent", 1, {}),
        (D2, "bounced", 2, {"smtp_code": 550, "reason": "5.1.1 user unknown"}),
        (D2, "queued", 0, {}), (D2, "failed", 30, {"reason": "timeout"}),
        (D2, "queued", 0, {}), (D2, "sent", 1, {}), (D2, "delivered", 2, {}),
        (D2, "opened", 1440, SUSPICIOUS), (D2, "complained", 1500, {}),
        (D2, "unsubscribed", 1501, {}),
    ]
    emails, out = [uuid4() for _ in range(5)], []
    message = -1
    for i, (domain_id, kind, minutes, extra) in enumerate(steps):
        message += kind == "queued"
        dims = {"domain_id": str(domain_id), "tag": "welcome" if domain_id == D1 else "news",
                "recipient": f"r{message}@example.org", "domain": "mail.example.com"}
        out.append(envelope(kind, first_position + i, customer_id=customer,
                            email_id=emails[message], at=T + timedelta(minutes=minutes),
                            **dims, **extra))
    return out


def totals(client: ClickHouse, customer: UUID, **filters: Any) -> dict[str, int | float]:
    return views.outbound_totals(client, customer_id=customer, **{**WIDE, **filters})


def count(client: ClickHouse, table: str) -> int:
    return int(client.execute(f"SELECT count() FROM {table}")[0][0])


def test_execute_returns_the_same_python_types(clickhouse: ClickHouse) -> None:
    [row] = clickhouse.execute(
        "SELECT toUUID('00000000-0000-0000-0000-0000000000aa'),"
        " toDateTime('2026-03-15 10:00:00', 'UTC'), toDateTime('2026-03-15 10:00:00'),"
        " toDate('2026-03-15'), toUInt64(18446744073709551615), toInt32(-5), toFloat64(2.5),"
        " 'text', [1, 2], NULL, toDecimal32(1.25, 2)")
    assert row == (UUID(int=0xAA), T, T, date(2026, 3, 15), 2**64 - 1, -5, 2.5, "text", [1, 2],
                   None, Decimal("1.25"))
    assert row[1].utcoffset() == timedelta(0)


def test_rendered_parameters_round_trip(clickhouse: ClickHouse) -> None:
    values = {"s": "it's \\ a\n\tb \"q\" \0 ünï €", "u": uuid4(), "t": T, "d": date(2026, 3, 15),
              "i": -42, "f": 0.25, "b": True, "n": None}
    [row] = clickhouse.execute("SELECT %(s)s, %(u)s, %(t)s, %(d)s, %(i)s, %(f)s, %(b)s, %(n)s",
                               values)
    assert row == (values["s"], values["u"], T, values["d"], -42, 0.25, 1, None)


def test_uuid_list_renders_for_in(clickhouse: ClickHouse) -> None:
    a, b = uuid4(), uuid4()
    sql = "SELECT count() FROM (SELECT arrayJoin([%(a)s, %(b)s, %(c)s]) AS u) WHERE u IN %(ids)s"
    assert clickhouse.execute(sql, {"a": a, "b": b, "c": uuid4(), "ids": [a, b]}) == [(2,)]


def test_schema_apply_is_idempotent(clickhouse: ClickHouse) -> None:
    schema.apply(clickhouse)
    schema.apply(clickhouse)
    names = clickhouse.execute(
        "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name")
    assert [name for (name,) in names] == [
        "event_positions", "events", "events_positions_mv", "health_history", "health_history_mv",
        "stats_duplicates", "stats_hourly", "stats_hourly_mv", "suppressions", "suppressions_mv"]


def test_migration_adds_a_column_once(clickhouse: ClickHouse) -> None:
    database = schema.current_database(clickhouse)
    migration = schema.AddColumn("events", "campaign", "String", "''")
    for _ in range(2):
        schema.migrate(clickhouse, database, [migration])
    assert schema.has_column(clickhouse, database, "events", "campaign")
    assert count(clickhouse, "system.columns WHERE database = currentDatabase() "
                             "AND table = 'events'") == len(events.COLUMNS) + len(schema.MIGRATIONS) + 1


def test_insert_round_trips_event_rows(clickhouse: ClickHouse) -> None:
    rows = events.rows(story(uuid4()))
    clickhouse.insert(events.TABLE, events.COLUMNS, rows)
    stored = clickhouse.execute(f"SELECT {', '.join(events.COLUMNS)} FROM events ORDER BY position")
    times = {events.COLUMNS.index("occurred_at"), events.COLUMNS.index("recorded_at")}
    assert stored == [  # DateTime columns are written as Unix seconds and read as aware datetimes
        tuple(datetime.fromtimestamp(v, UTC) if i in times else v for i, v in enumerate(row))
        for row in rows]


def test_sink_writes_exact_totals(clickhouse: ClickHouse) -> None:
    customer = uuid4()
    ClickHouseSink(clickhouse).write(story(customer))
    assert totals(clickhouse, customer) == ALL
    assert (count(clickhouse, "events"), count(clickhouse, "event_positions")) == (22, 22)


def test_replayed_batch_changes_no_number(clickhouse: ClickHouse) -> None:
    customer, sink = uuid4(), ClickHouseSink(clickhouse)
    batch = story(customer)
    sink.write(batch)
    sink.write(batch)
    sink.write(batch + batch)
    assert totals(clickhouse, customer) == ALL
    assert count(clickhouse, "events") == 22


def test_overlapping_batches_count_each_event_once(clickhouse: ClickHouse) -> None:
    customer, sink = uuid4(), ClickHouseSink(clickhouse)
    batch = story(customer)
    sink.write(batch[:8])
    sink.write(batch[5:15])  # a crash after writing, before the commit, replays 5..7
    sink.write(batch[12:])
    assert totals(clickhouse, customer) == ALL
    assert count(clickhouse, "events") == 22


def test_positions_far_apart_are_all_found_on_replay(clickhouse: ClickHouse) -> None:
    customer, sink = uuid4(), ClickHouseSink(clickhouse)
    batch = story(customer, 1)[:11] + story(customer, 5_000_000)[11:] + story(uuid4(), 10**12)
    sink.write(batch)
    sink.write(list(reversed(batch)))
    assert totals(clickhouse, customer) == ALL
    assert count(clickhouse, "events") == 44


def test_clusters_split_at_the_gap() -> None:
    assert clusters([1, 5, 99_999, 200_000, 10**12], 100_000) == [
        (1, 99_999), (200_000, 200_000), (10**12, 10**12)]


def test_failed_insert_raises_and_records_nothing(empty_clickhouse: ClickHouse) -> None:
    empty_clickhouse.execute(
        "CREATE TABLE event_positions (position UInt64) ENGINE = MergeTree() ORDER BY position")
    with pytest.raises(Exception, match="events"):
        ClickHouseSink(empty_clickhouse).write(story(uuid4()))
    assert count(empty_clickhouse, "event_positions") == 0


def test_other_customer_sees_zeros(clickhouse: ClickHouse) -> None:
    ClickHouseSink(clickhouse).write(story(uuid4()))
    assert totals(clickhouse, uuid4()) == ZERO


@pytest.mark.parametrize(
    ("filters", "changes"),
    [
        ({"filter": "human_only"}, {"opens": 2, "unique_opens": 1, "clicks": 1,
                                    "unique_clicks": 1, "open_rate": 33.33, "click_rate": 33.33}),
        ({"filter": "scanner_only"}, {"opens": 1, "unique_opens": 1, "clicks": 1,
                                      "unique_clicks": 1, "open_rate": 33.33,
                                      "click_rate": 33.33}),
        ({"tag": "news"}, {"sent": 3, "delivered": 1, "opens": 1, "unique_opens": 1, "clicks": 0,
                           "unique_clicks": 0, "human_opens": 0, "scanner_opens": 0,
                           "human_clicks": 0, "scanner_clicks": 0, "delivery_rate": 33.33,
                           "click_rate": 0.0, "bounce_rate": 33.33, "complaint_rate": 100.0}),
        ({"domain_id": D1}, {"sent": 2, "delivered": 2, "bounced": 0, "failed": 0, "opens": 3,
                             "unique_opens": 2, "complaints": 0, "unsubscribes": 0,
                             "delivery_rate": 100.0, "click_rate": 100.0, "bounce_rate": 0.0,
                             "complaint_rate": 0.0}),
        ({"domain_id": D1, "tag": "news"}, ZERO),
        ({"start": T, "end": T + timedelta(days=1)},
         {"opens": 3, "unique_opens": 2, "complaints": 0, "unsubscribes": 0, "open_rate": 66.67,
          "complaint_rate": 0.0}),
        ({"start": T + timedelta(minutes=30), "end": T + timedelta(minutes=45)},
         {"opens": 1, "unique_opens": 1, "clicks": 1, "unique_clicks": 1, "complaints": 0,
          "unsubscribes": 0, "human_opens": 0, "human_clicks": 0, "open_rate": 33.33,
          "click_rate": 33.33, "complaint_rate": 0.0}),
        ({"start": T + timedelta(days=2), "end": T + timedelta(days=3)}, ZERO),
    ],
    ids=["human_only", "scanner_only", "tag", "domain_id", "domain_and_tag", "day_window",
         "hour_granular_window", "empty_window"],
)
def test_outbound_totals_filters(
    clickhouse: ClickHouse, filters: dict[str, Any], changes: dict[str, int | float]
) -> None:
    customer = uuid4()
    ClickHouseSink(clickhouse).write(story(customer))
    assert totals(clickhouse, customer, **filters) == {**ALL, **changes}


def test_scanner_classes_split_at_50_and_80(clickhouse: ClickHouse) -> None:
    customer = uuid4()
    opens = events.rows([envelope("opened", p, customer_id=customer, at=T) for p in range(6)])
    at = events.COLUMNS.index("scanner_score")
    rows = [row[:at] + (score,) + row[at + 1:]
            for row, score in zip(opens, (0, 49, 50, 79, 80, 100), strict=True)]
    clickhouse.insert(events.TABLE, events.COLUMNS, rows)
    got = totals(clickhouse, customer)
    assert (got["opens"], got["human_opens"], got["scanner_opens"]) == (6, 2, 2)
