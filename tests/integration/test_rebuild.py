"""Rebuilding projections from the event store, on the ClickHouse 18.16 server and on chdb.

The event store holds real aggregate events (``tests.support.stored_story``); the live tables
are filled the way the projector fills them (``ClickHouseSink``). Small pages, so the replay
and the catch-up take several pages and passes.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from uuid import uuid4

import pytest

from consumers import rebuild as steps
from consumers.clickhouse_sink import ClickHouseSink
from event_store.application import EmailEvents
from event_store.feed import NotificationFeed
from read_api.series import series
from read_api.views import outbound_totals
from tests.helpers import envelope
from tests.support.stored_story import AT
from tests.support.stored_story import PUBLISHED
from tests.support.stored_story import TOTALS
from tests.support.stored_story import open_sqlite
from tests.support.stored_story import store_story
from warehouse import schema
from warehouse.port import ClickHouse

START, END = AT - timedelta(days=1), datetime.now(UTC) + timedelta(hours=1)
SENDS = {"sent": 5, "delivered": 4, "bounced": 1, "failed": 0}
PARTIAL = ("stats_hourly",)


@pytest.fixture
def store(tmp_path: Path) -> EmailEvents:
    """A fresh SQLite event store."""
    return open_sqlite(str(tmp_path / "events.sqlite"))


def plan(client: ClickHouse, *tables: str) -> steps.Plan:
    """A plan with small pages and margin: many pages, several replay passes."""
    return steps.Plan.of(schema.current_database(client), tables, page=4, margin=3, passes=50)


def totals(client: ClickHouse, customer: UUID) -> dict[str, int | float]:
    """``/api/stats/outbound``'s numbers over the story's window."""
    return outbound_totals(client, customer_id=customer, start=START, end=END)


def sends(client: ClickHouse, customer: UUID) -> dict[str, Any]:
    """The daily ``sends`` series' total."""
    return series(client, kind="sends", customer_id=customer, start=START, end=END)["total"]


def project(client: ClickHouse, store: EmailEvents, after: int = 0, until: int | None = None) -> None:
    """What the projector writes for positions ``(after, until]``."""
    feed = NotificationFeed(store)
    page = feed.read(after, (until or feed.head()) - after)
    ClickHouseSink(client).write(page.envelopes)


def fake(customer: UUID, position: int) -> Any:
    """An envelope the event store never held (a wrong live table shows it)."""
    return envelope("queued", position, customer_id=customer, at=AT, recipient="ghost@x.org")


def count(client: ClickHouse, sql: str) -> int:
    """One number."""
    return int(client.execute(sql)[0][0])


def test_a_rebuild_gives_exactly_the_event_stores_numbers(clickhouse: ClickHouse,
                                                          store: EmailEvents) -> None:
    a, b = store_story(store), store_story(store)
    project(clickhouse, store, 0, 10)  # the live tables know a part, and something false
    ClickHouseSink(clickhouse).write([fake(a, 10_000)])
    assert totals(clickhouse, a)["sent"] == 6

    done = steps.rebuild(NotificationFeed(store), clickhouse, plan(clickhouse), cutoff=None)

    assert totals(clickhouse, a) == TOTALS and totals(clickhouse, b) == TOTALS
    assert sends(clickhouse, a) == SENDS and sends(clickhouse, b) == SENDS
    assert count(clickhouse, "SELECT count() FROM events FINAL") == 2 * PUBLISHED
    assert count(clickhouse, "SELECT uniqExact(position) FROM event_positions") == 2 * PUBLISHED
    assert count(clickhouse, "SELECT count() FROM suppressions FINAL WHERE active") == 2
    assert (done.head, done.replayed, done.caught_up) == (NotificationFeed(store).head(), 2 * PUBLISHED, 0)
    assert not schema.exists(clickhouse, schema.shadow_name(schema.current_database(clickhouse)))


def test_a_wiped_clickhouse_is_rebuilt_to_exact_numbers(clickhouse: ClickHouse,
                                                         store: EmailEvents) -> None:
    a = store_story(store)
    project(clickhouse, store)
    for name in [o.name for o in schema.objects("x")][::-1]:
        clickhouse.execute(f"DROP TABLE IF EXISTS {name}")
    assert count(clickhouse, "SELECT count() FROM system.tables WHERE database = currentDatabase()") == 0

    steps.rebuild(NotificationFeed(store), clickhouse, plan(clickhouse), cutoff=None)

    assert totals(clickhouse, a) == TOTALS and sends(clickhouse, a) == SENDS
    assert count(clickhouse, "SELECT count() FROM events FINAL") == PUBLISHED


def test_only_the_chosen_table_is_rebuilt(clickhouse: ClickHouse, store: EmailEvents) -> None:
    a = store_story(store)
    project(clickhouse, store)
    ClickHouseSink(clickhouse).write([fake(a, 10_000)])  # in events and stats_hourly alike

    done = steps.rebuild(NotificationFeed(store), clickhouse, plan(clickhouse, *PARTIAL), cutoff=None)

    assert done.tables == ("stats_hourly", "stats_duplicates")
    assert totals(clickhouse, a) == TOTALS  # rebuilt from the event store
    assert count(clickhouse, "SELECT count() FROM events WHERE position = 10000") == 1  # untouched
    assert count(clickhouse, "SELECT count() FROM event_positions") == PUBLISHED + 1
    assert count(clickhouse, "SELECT count() FROM stats_duplicates") == 0


@pytest.mark.parametrize("tables", [(), PARTIAL], ids=["whole", "stats_hourly"])
def test_old_tables_serve_until_the_swap_and_the_projectors_writes_are_kept(
        clickhouse: ClickHouse, store: EmailEvents, tables: tuple[str, ...]) -> None:
    a = store_story(store)
    project(clickhouse, store)
    ClickHouseSink(clickhouse).write([fake(a, 10_000)])
    feed, chosen = NotificationFeed(store), plan(clickhouse, *tables)
    steps.prepare(feed, clickhouse, chosen)
    replayed = steps.replay(feed, clickhouse, chosen)

    head = feed.head()  # the projector goes on writing the live tables during the rebuild
    c = store_story(store)
    project(clickhouse, store, head)
    assert totals(clickhouse, a)["sent"] == 6  # the old tables, still serving
    assert totals(clickhouse, c) == TOTALS

    steps.swap(clickhouse, chosen, replayed.head, None)
    old = shadow_counts(clickhouse, chosen)
    head = feed.head()
    d = store_story(store)  # the projector after the swap: the live views fill the new tables
    project(clickhouse, store, head)
    assert totals(clickhouse, d) == TOTALS
    assert shadow_counts(clickhouse, chosen) == old  # nothing writes into the old tables

    steps.catch_up(feed, clickhouse, chosen, replayed.head, replayed.tail)
    steps.finish(clickhouse, chosen)
    for customer in (a, c, d):
        assert totals(clickhouse, customer) == TOTALS
        assert sends(clickhouse, customer) == SENDS


def shadow_counts(client: ClickHouse, chosen: steps.Plan) -> dict[str, int]:
    """Rows of each table left in the shadow database (the old ones after the swap)."""
    rows = client.execute("SELECT name FROM system.tables WHERE database = %(db)s"
                          " AND engine NOT IN ('Null', 'MaterializedView', 'TinyLog')",
                          {"db": chosen.shadow})
    found = {str(name): count(client, f"SELECT count() FROM {chosen.shadow}.{name}") for (name,) in rows}
    assert found, "the old tables are in the shadow database until the end"
    return found


def test_a_lagging_projector_is_not_counted_twice_after_a_partial_rebuild(
        clickhouse: ClickHouse, store: EmailEvents) -> None:
    a = store_story(store)
    project(clickhouse, store, 0, 6)  # the projector is behind: positions 7.. come later

    steps.rebuild(NotificationFeed(store), clickhouse, plan(clickhouse, *PARTIAL), cutoff=None)
    project(clickhouse, store, 6)  # it catches up into the rebuilt stats_hourly

    assert totals(clickhouse, a) == TOTALS and sends(clickhouse, a) == SENDS


def test_a_crash_before_the_swap_leaves_the_live_tables_alone(clickhouse: ClickHouse,
                                                             store: EmailEvents) -> None:
    a = store_story(store)
    project(clickhouse, store)
    ClickHouseSink(clickhouse).write([fake(a, 10_000)])
    feed, chosen = NotificationFeed(store), plan(clickhouse)
    steps.prepare(feed, clickhouse, chosen)
    steps.replay(feed, clickhouse, chosen)  # ... and the process dies here

    assert totals(clickhouse, a)["sent"] == 6
    done = steps.rebuild(feed, clickhouse, chosen, cutoff=None)
    assert not done.finished_interrupted
    assert totals(clickhouse, a) == TOTALS


@pytest.mark.parametrize("tables", [(), PARTIAL], ids=["whole", "stats_hourly"])
def test_a_crash_after_the_swap_is_finished_by_the_next_run(
        clickhouse: ClickHouse, store: EmailEvents, tables: tuple[str, ...]) -> None:
    a = store_story(store)
    project(clickhouse, store)
    feed, chosen = NotificationFeed(store), plan(clickhouse, *tables)
    steps.prepare(feed, clickhouse, chosen)
    replayed = steps.replay(feed, clickhouse, chosen)
    head = feed.head()
    c = store_story(store)
    project(clickhouse, store, head)  # into the old tables
    steps.swap(clickhouse, chosen, replayed.head, None)  # ... and the process dies here
    assert totals(clickhouse, c)["sent"] == 0

    done = steps.rebuild(feed, clickhouse, plan(clickhouse, "health_history"), cutoff=None)

    assert done.finished_interrupted
    assert totals(clickhouse, a) == TOTALS and totals(clickhouse, c) == TOTALS


def test_expired_raw_events_stay_out_and_their_statistics_stay(clickhouse: ClickHouse,
                                                              store: EmailEvents) -> None:
    then = datetime(datetime.now(UTC).year - 2, 3, 10, 9, 10, tzinfo=UTC)
    old, recent = store_story(store, at=then), store_story(store)
    cutoff = datetime.now(UTC) - timedelta(days=365)

    done = steps.rebuild(NotificationFeed(store), clickhouse, plan(clickhouse), cutoff=cutoff)

    assert done.dropped_partitions == (then.strftime("%Y%m"),)
    assert count(clickhouse, f"SELECT count() FROM events WHERE customer_id = toUUID('{old}')") == 0
    assert outbound_totals(clickhouse, customer_id=old, start=then - timedelta(days=1),
                           end=then + timedelta(days=1)) == TOTALS
    assert totals(clickhouse, recent) == TOTALS


OLD_STATS = """
CREATE TABLE {db}.stats_hourly
(customer_id UUID, hour DateTime('UTC'), event_type String, domain_id UUID, tag String,
 scanner_class UInt8, bounce_type String, events AggregateFunction(count),
 emails AggregateFunction(uniqExact, UUID))
ENGINE = AggregatingMergeTree() PARTITION BY toYYYYMM(hour)
ORDER BY (customer_id, hour, event_type, domain_id, tag, scanner_class, bounce_type)
"""
OLD_VIEW = """
CREATE MATERIALIZED VIEW {db}.stats_hourly_mv TO {db}.stats_hourly AS SELECT customer_id,
 toStartOfHour(occurred_at) AS hour, event_type, domain_id, tag, toUInt8(0) AS scanner_class,
 bounce_type, countState() AS events, uniqExactState(email_id) AS emails FROM {db}.events
GROUP BY customer_id, hour, event_type, domain_id, tag, scanner_class, bounce_type
"""


def test_a_schema_1_stats_hourly_is_upgraded_by_its_rebuild(empty_clickhouse: ClickHouse,
                                                           store: EmailEvents) -> None:
    client, db = empty_clickhouse, schema.current_database(empty_clickhouse)
    schema.ensure(client, db, skip=["stats_hourly"])
    client.execute(OLD_STATS.format(db=db))
    client.execute(OLD_VIEW.format(db=db))
    a = store_story(store)
    project(client, store)
    with pytest.raises(schema.SchemaOutdated, match="projections rebuild --table stats_hourly"):
        schema.apply(client)
    with pytest.raises(schema.SchemaOutdated, match="--table stats_hourly"):
        steps.rebuild(NotificationFeed(store), client, plan(client, "health_history"), cutoff=None)

    steps.rebuild(NotificationFeed(store), client, plan(client, *PARTIAL), cutoff=None)

    schema.apply(client)
    assert totals(client, a) == TOTALS
    b = uuid4()
    ClickHouseSink(client).write([fake(b, 20_000)])  # the new view fills the new table
    assert totals(client, b)["sent"] == 1


def test_tables_that_index_everything_are_rebuilt_only_with_everything() -> None:
    for tables in (["events"], ["event_positions", "stats_hourly"]):
        with pytest.raises(ValueError, match="only with every table"):
            steps.Plan.of("db", tables)
    with pytest.raises(ValueError, match="unknown table"):
        steps.Plan.of("db", ["stats_duplicates"])
    assert steps.Plan.of("db", schema.rebuildable()).whole


class SwapRace:
    """The live client, with the projector writing a new story just before the swap."""

    def __init__(self, client: ClickHouse, store: EmailEvents) -> None:
        self.client, self.store, self.customers = client, store, []

    def execute(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        if sql.startswith(("EXCHANGE TABLES", "RENAME TABLE")) and not self.customers:
            head = NotificationFeed(self.store).head()
            self.customers.append(store_story(self.store))
            project(self.client, self.store, head)  # after the replay's last page, before the swap
        return self.client.execute(sql, params)

    def insert(self, table: str, columns: Any, rows: Any) -> None:
        self.client.insert(table, columns, rows)


@pytest.mark.parametrize("tables", [(), PARTIAL], ids=["whole", "stats_hourly"])
def test_what_the_projector_writes_before_the_swap_is_caught_up(
        clickhouse: ClickHouse, store: EmailEvents, tables: tuple[str, ...]) -> None:
    a = store_story(store)
    project(clickhouse, store)
    race = SwapRace(clickhouse, store)

    done = steps.rebuild(NotificationFeed(store), race, plan(clickhouse, *tables), cutoff=None)  # type: ignore[arg-type]

    [c] = race.customers
    assert done.caught_up == PUBLISHED
    assert totals(clickhouse, a) == TOTALS and totals(clickhouse, c) == TOTALS
    assert sends(clickhouse, c) == SENDS
