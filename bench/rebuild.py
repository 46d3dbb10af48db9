"""Rebuild throughput: the event store (SQLite) replayed into ClickHouse, server and chdb.

One run: N generated events are stored once in a SQLite event store (``bench.stored_events``,
cached in ``bench/data/``); then ``consumers.rebuild.rebuild`` (the whole schema: ``events``
and every view) runs into a fresh database of the ClickHouse server in this process, and into a
fresh chdb data dir in a child process (chdb opens one data path per process). The figure is
rows replayed per second of the replay step (what scales with the log; the swap and catch-up take
well under a second). Baseline, same run: reading the same log alone (``NotificationFeed.read``
and ``projections.events.rows``, no ClickHouse), the ceiling of a one-process replay.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.common import DATA_DIR
from bench.common import REPO_DIR
from bench.common import Options
from bench.common import Result
from bench.common import fresh_hex
from bench.common import register

TARGET = 0.5
BASELINE = "the same log read alone (feed + rows, no ClickHouse)"
CHILD = """
import json, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from bench.rebuild import replay
from warehouse.clients import ChdbClient
print(json.dumps(replay(sys.argv[1], ChdbClient.open(Path(sys.argv[2]), "bench"))))
"""


def store_path(count: int, seed: int) -> Path:
    """The cached SQLite event store of ``count`` events (generated on first use)."""
    path = DATA_DIR / f"rebuild-{count}-{seed}.sqlite"
    if not path.exists():
        from bench import stored_events
        from event_store.application import open_application

        DATA_DIR.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(".part.sqlite")
        for leftover in DATA_DIR.glob(part.name + "*"):
            leftover.unlink()
        app = open_application(None, str(part))
        started = time.monotonic()
        stored_events.write(app, count, seed)
        app.close()
        part.rename(path)
        print(f"  stored {count:,} events in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return path


def replay(path: str, client: object) -> dict[str, float]:
    """Rebuild every table from the store at ``path`` into ``client``'s database; the figures."""
    from consumers.rebuild import Plan
    from consumers.rebuild import rebuild
    from event_store.application import open_application
    from event_store.feed import NotificationFeed
    from warehouse.schema import current_database

    app = open_application(None, path)
    done = rebuild(NotificationFeed(app), client, Plan.of(current_database(client)),  # type: ignore[arg-type]
                   cutoff=None)
    rows = client.execute("SELECT count() FROM events")[0][0]  # type: ignore[attr-defined]
    return {"replayed": done.replayed, "replay_s": done.replay_s, "total_s": done.total_s,
            "rows": rows}


def feed_alone(path: str) -> float:
    """Seconds to read the whole log and build its rows, without writing them."""
    from event_store.application import open_application
    from event_store.feed import NotificationFeed
    from projections import events

    feed = NotificationFeed(open_application(None, path))
    started, after, head = time.monotonic(), 0, feed.head()
    while after < head:
        page = feed.read(after, 20_000)
        events.rows(page.envelopes)
        after = page.last_position
    return time.monotonic() - started


@register("rebuild")
def rebuild_bench(options: Options) -> list[Result]:
    """Store once, read alone (baseline), rebuild into the server, rebuild into chdb."""
    from warehouse.clients import connect

    count, run = options.events, fresh_hex()
    path = str(store_path(count, options.seed))
    baseline = count / feed_alone(path)
    database = f"bench_rebuild_{run}"
    client = connect(options.services.clickhouse_url(database), Path("unused"))
    try:
        server = replay(path, client)
    finally:
        if not options.keep:
            client.execute(f"DROP DATABASE IF EXISTS {database}")
        client.close()
    chdb_dir = DATA_DIR / "runs" / f"chdb-{run}"
    done = subprocess.run([sys.executable, "-c", CHILD, path, str(chdb_dir)], cwd=REPO_DIR,
                          capture_output=True, text=True, check=True)
    embedded = json.loads(done.stdout.strip().splitlines()[-1])
    if not options.keep:
        import shutil

        shutil.rmtree(chdb_dir, ignore_errors=True)
    for name, figures in (("server", server), ("chdb", embedded)):
        print(f"  {name}: {figures['replayed']:,.0f} rows in {figures['replay_s']:.1f}s replay, "
              f"{figures['total_s']:.1f}s in all, {figures['rows']:,.0f} in events", file=sys.stderr)
    return [Result("rebuild_server", "events/s", server["replayed"] / server["replay_s"], baseline,
                   BASELINE, TARGET),
            Result("rebuild_chdb", "events/s", embedded["replayed"] / embedded["replay_s"], baseline,
                   BASELINE, TARGET)]
