"""``python -m bench.stages [--events N] [--profile]``: the projector's stages, each alone.

Not part of ``make bench``: an investigation tool. With the services env loaded it loads N cached
envelopes into a fresh topic and times, in this process, each stage on the same data:

* ``KafkaSource.poll`` (fresh group; also with ``check_crcs=False``),
* ``loop.decode`` (= ``Envelope.from_json`` + type check), and bare ``json``/``orjson`` parsing,
* ``projections.events.rows``, and the payload column's ``json.dumps`` against ``orjson``,
* ``DriverClient.insert`` of those rows into a fresh schema (20k and 100k-row batches, DateTime
  as int, no materialized views) and the same rows as JSONEachRow over HTTP,
* the sink's steps per 20k batch in poll order (``unique``, ``stored_positions``, rows, insert),

then, with ``--profile``, runs ``consumers.loop.run`` under cProfile (see ``bench.profile``).
Outputs of earlier batches are frozen out of the garbage collector's scans, as in the projector
process, which only ever holds one batch.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any
from typing import TypeVar

import orjson
from clickhouse_driver import Client

from bench import dataset
from bench import profile
from bench import topic as topics
from bench import warehouse
from bench.common import DATA_DIR
from bench.common import Services
from bench.common import fresh_hex
from consumers import loop
from consumers.clickhouse_sink import ClickHouseSink
from consumers.clickhouse_sink import unique
from consumers.kafka_source import KafkaSource
from consumers.records import Record
from event_store.envelope import Envelope
from projections import events
from warehouse import schema
from warehouse.clients import connect
from warehouse.port import ClickHouse

T = TypeVar("T")
BATCH = loop.Limits().max_records
HTTP_ENV = "MAILERLOGIC_TEST_CLICKHOUSE_HTTP"


def report(name: str, count: int, seconds: float, note: str = "") -> float:
    """Print one stage (events/s, seconds); returns its events/s."""
    rate = count / seconds
    print(f"{name:<46} {rate:>11,.0f} ev/s {seconds:>7.2f}s  {note}", flush=True)
    return rate


def per_batch(function: Callable[[Sequence[Any]], list[T]], items: Sequence[Any],
              repeat: int = 2) -> tuple[float, list[T]]:
    """Best of ``repeat`` runs of ``function`` over ``BATCH``-sized slices, and the last outputs.

    Earlier outputs are frozen out of the collector's scans (``gc.freeze`` is O(1)), as in the
    projector process, which only ever holds one batch; the first run also warms the allocator.
    """
    best = float("inf")
    out: list[T] = []
    for _ in range(repeat):
        out = []
        gc.collect()
        gc.freeze()
        start = time.perf_counter()
        for i in range(0, len(items), BATCH):
            out.extend(function(items[i:i + BATCH]))
            gc.freeze()
        best = min(best, time.perf_counter() - start)
        gc.unfreeze()
    return best, out


def poll_all(services: Services, topic: str, group: str, count: int,
             **overrides: Any) -> tuple[float, list[Record]]:
    """Poll a fresh group until ``count`` records; seconds counted from the first non-empty poll."""
    source = KafkaSource(services.bootstrap, topic, group, **overrides)
    records: list[Record] = []
    first = 0.0
    deadline = time.monotonic() + 60 + count / 5_000
    try:
        while len(records) < count and time.monotonic() < deadline:
            polled = source.poll(BATCH, 0.1)
            if polled and not first:
                first = time.perf_counter()
            records.extend(polled)
            gc.freeze()
    finally:
        source.close()
    if len(records) != count:
        raise RuntimeError(f"polled {len(records)} of {count}")
    return time.perf_counter() - first, records


def fresh_client(services: Services, database: str) -> ClickHouse:
    """A client on a fresh database with the real schema."""
    client = connect(services.clickhouse_url(database), DATA_DIR)
    schema.apply(client)
    return client


def insert_all(admin: Client, insert: Callable[[Sequence[Any]], None], rows: Sequence[Any],
               size: int) -> float:
    """Seconds to insert ``rows`` in ``size``-row calls, once the server's merges settled."""
    warehouse.wait_quiet(admin)
    gc.collect()
    gc.freeze()
    start = time.perf_counter()
    for i in range(0, len(rows), size):
        insert(rows[i:i + size])
    return time.perf_counter() - start


def http_insert(base: str, database: str, table: str) -> Callable[[Sequence[bytes]], None]:
    """POST JSONEachRow lines to the HTTP interface (DateTime parsed best effort)."""
    query = urllib.parse.urlencode({"database": database, "date_time_input_format": "best_effort",
                                    "query": f"INSERT INTO {table} FORMAT JSONEachRow"})

    def insert(lines: Sequence[bytes]) -> None:
        request = urllib.request.Request(f"{base}/?{query}", data=b"\n".join(lines), method="POST")
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()

    return insert


def sink_steps(client: ClickHouse, envelopes: list[Envelope]) -> dict[str, float]:
    """The four steps of ``ClickHouseSink.write`` timed separately, 20k envelopes per batch."""
    sink = ClickHouseSink(client)
    spent = {"unique": 0.0, "stored_positions": 0.0, "rows": 0.0, "insert": 0.0}
    for i in range(0, len(envelopes), BATCH):
        gc.freeze()
        t0 = time.perf_counter()
        fresh = unique(envelopes[i:i + BATCH])
        t1 = time.perf_counter()
        stored = sink.stored_positions(sorted({e.position for e in fresh}))
        t2 = time.perf_counter()
        rows = events.rows(e for e in fresh if e.position not in stored)
        t3 = time.perf_counter()
        client.insert(events.TABLE, events.COLUMNS, rows)
        t4 = time.perf_counter()
        for name, seconds in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            spent[name] += seconds
    return spent


def stage_numbers(services: Services, topic: str, count: int, names: list[str], admin: Client) -> None:
    """Every stage alone, on the same records; then the serial ceiling they imply."""
    seconds, records = poll_all(services, topic, f"{names[0]}-poll", count)
    poll = report("KafkaSource.poll", count, seconds, "fresh group, from the first record")
    report("KafkaSource.poll check_crcs=False", count,
           poll_all(services, topic, f"{names[0]}-nocrc", count, check_crcs=False)[0])
    databases = names[1:]
    values = [r.value for r in records]
    report("json.loads alone", count, per_batch(lambda vs: [json.loads(v) for v in vs], values)[0])
    report("orjson.loads alone", count, per_batch(lambda vs: [orjson.loads(v) for v in vs], values)[0])
    seconds, envelopes = per_batch(lambda rs: [loop.decode(r) for r in rs], records)
    decode = report("loop.decode (Envelope.from_json)", count, seconds)
    seconds, rows = per_batch(events.rows, envelopes)
    project = report("projections.events.rows", count, seconds)
    payloads = [e.payload for e in envelopes]
    report("  payload json.dumps(sort_keys) alone", count, per_batch(lambda ps: [json.dumps(
        p, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str) for p in ps], payloads)[0])
    report("  payload orjson.dumps(OPT_SORT_KEYS) alone", count, per_batch(
        lambda ps: [orjson.dumps(p, option=orjson.OPT_SORT_KEYS) for p in ps], payloads)[0])
    a, b, c = (fresh_client(services, database) for database in databases[:3])
    b.execute("CREATE TABLE events_plain AS events")
    columns = events.COLUMNS

    def into(client: ClickHouse, table: str) -> Callable[[Sequence[Any]], None]:
        return lambda batch: client.insert(table, columns, batch)

    insert = report(f"DriverClient.insert {BATCH // 1000}k (+views)", count,
                    insert_all(admin, into(a, "events"), rows, BATCH))
    report("DriverClient.insert 100k (+views)", count, insert_all(admin, into(b, "events"), rows, 100_000))
    report(f"DriverClient.insert {BATCH // 1000}k, no views", count,
           insert_all(admin, into(b, "events_plain"), rows, BATCH))
    as_int = [r[:5] + (int(r[5].timestamp()), int(r[6].timestamp())) + r[7:] for r in rows]
    report(f"DriverClient.insert {BATCH // 1000}k, DateTime as int", count,
           insert_all(admin, into(c, "events"), as_int, BATCH))
    base = os.environ.get(HTTP_ENV, "")
    if base.startswith("http://127.0.0.1:"):
        seconds, lines = per_batch(lambda rs: [orjson.dumps(dict(zip(columns, r, strict=True))) for r in rs],
                                   rows)
        report("rows -> JSONEachRow lines (orjson)", count, seconds)
        report(f"HTTP JSONEachRow {BATCH // 1000}k (+views)", count,
               insert_all(admin, http_insert(base, databases[3], "events"), lines, BATCH))
    for client in (a, b, c):
        client.close()
    d = fresh_client(services, databases[4])
    spent = sink_steps(d, envelopes)
    d.close()
    for name, seconds in spent.items():
        report(f"sink.write step {name}", count, seconds, "20k batches in poll order")
    write = report("sink.write total", count, sum(spent.values()))
    ceiling = 1 / (1 / poll + 1 / decode + 1 / write)
    print(f"\nserial ceiling poll + decode + write: {ceiling:,.0f} ev/s "
          f"(rows {project:,.0f}, insert {insert:,.0f} ev/s of it)")


def run(services: Services, count: int, seed: int, with_profile: bool) -> None:
    """Load a topic and time every stage; drop everything afterwards."""
    path = dataset.ensure(count, seed)
    run_id = fresh_hex()
    topic = f"bench-events-{run_id}"
    databases = [f"bench_{run_id}_{n}" for n in ("a", "b", "c", "h", "s", "p")]
    group = f"bench-stage-{run_id}"
    groups = [f"{group}-{suffix}" for suffix in ("poll", "nocrc", "profile")]
    admin = warehouse.admin(services)
    try:
        for database in databases[3:4]:
            fresh_client(services, database).close()
        topics.create(services.bootstrap, topic)
        topics.load(services.bootstrap, topic, path, count, 120 + count / 2_000)
        stage_numbers(services, topic, count, [group, *databases], admin)
        if with_profile:
            profile.profile_loop(services, topic, groups[2], databases[5], count)
    finally:
        warehouse.drop(admin, databases)
        topics.delete(services.bootstrap, [topic], groups)
        admin.disconnect()


def main(argv: list[str]) -> None:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="also cProfile consumers.loop.run")
    args = parser.parse_args(argv)
    run(Services.from_env(), args.events, args.seed, args.profile)


if __name__ == "__main__":
    main(sys.argv[1:])
