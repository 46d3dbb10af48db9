"""cProfile of ``consumers.loop.run`` (real KafkaSource, ClickHouseSink, DriverClient) on a topic.

The loop runs in a thread with the profiler enabled in that thread only; the main thread polls
``count()`` and sets ``stop`` once every event is stored. Prints the wall time, the share of the
loop's time in each stage, and the top functions by own time. cProfile's per-call overhead
inflates pure-Python code (decoding, rows) relative to C and I/O waits: read it with the
stage-alone numbers of ``bench.stages``.
"""

from __future__ import annotations

import cProfile
import pstats
import threading
import time
from typing import Any

from bench import warehouse
from bench.common import DATA_DIR
from bench.common import Services
from bench.common import wait_until
from consumers import loop
from consumers.clickhouse_sink import ClickHouseSink
from consumers.kafka_source import KafkaSource
from consumers.records import Record
from warehouse import schema
from warehouse.clients import connect

# (label, file suffix, function name): cumulative time of each, as a share of loop.run.
STAGES = (
    ("KafkaSource.poll (fetch + record decoding)", "consumers/kafka_source.py", "poll"),
    ("  kafka-python fetcher record parsing", "kafka/consumer/fetcher.py", "_unpack_records"),
    ("loop.add (decode into envelopes)", "consumers/loop.py", "add"),
    ("  Envelope.from_json", "event_store/envelope.py", "from_json"),
    ("    json.loads", "json/__init__.py", "loads"),
    ("    parse_ts", "event_store/envelope.py", "parse_ts"),
    ("ClickHouseSink.write", "consumers/clickhouse_sink.py", "write"),
    ("  unique", "consumers/clickhouse_sink.py", "unique"),
    ("  stored_positions (lookup query)", "consumers/clickhouse_sink.py", "stored_positions"),
    ("  projections.events.rows", "projections/events.py", "rows"),
    ("    scanner.score", "projections/scanner.py", "score"),
    ("    json.dumps (payload column)", "json/__init__.py", "dumps"),
    ("  DriverClient.insert", "mailerlogic/clickhouse.py", "insert"),
    ("KafkaSource.commit", "consumers/kafka_source.py", "commit"),
)


class NoDeadLetters:
    """Dead letters kept in memory (the data set has none)."""

    def __init__(self) -> None:
        self.sent: list[tuple[Record, str]] = []

    def send(self, record: Record, reason: str) -> None:
        """Keep one."""
        self.sent.append((record, reason))

    def flush(self) -> None:
        """Nothing to make durable."""


def cumulative(stats: dict[Any, Any], suffix: str, name: str) -> float:
    """Cumulative seconds of the functions called ``name`` in files ending with ``suffix``."""
    return float(sum(value[3] for (path, _, func), value in stats.items()
                     if func == name and path.endswith(suffix)))


def profile_loop(services: Services, topic: str, group: str, database: str, count: int) -> None:
    """Run the loop under cProfile until ``count`` events are stored; print where time went."""
    client = connect(services.clickhouse_url(database), DATA_DIR)
    schema.apply(client)
    source = KafkaSource(services.bootstrap, topic, group)
    stop = threading.Event()
    profiler = cProfile.Profile()
    sink = ClickHouseSink(client)
    thread = threading.Thread(target=profiler.runcall, name="loop", daemon=True,
                              args=(loop.run, source, sink, NoDeadLetters(), loop.Limits(), stop))
    ch = warehouse.admin(services)
    start = time.monotonic()
    thread.start()
    try:
        wait_until(lambda: warehouse.count(ch, database, "events") >= count or not thread.is_alive(),
                   60 + count / 1_000, "profiled loop")
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        thread.join(timeout=60)
        source.close()
        client.close()
        ch.disconnect()
    print(f"\nprofiled loop.run: {count:,} events in {elapsed:.1f}s ({count / elapsed:,.0f} ev/s, "
          "under cProfile)")
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = cumulative(raw, "consumers/loop.py", "run")
    for label, suffix, name in STAGES:
        seconds = cumulative(raw, suffix, name)
        print(f"  {label:<46} {seconds:>7.2f}s {100 * seconds / total:>5.1f}%")
    print("\ntop functions by own time:")
    stats.sort_stats("tottime").print_stats(25)
