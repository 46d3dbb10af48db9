"""The SQLite event store's durable append alone (no HTTP): opens recorded per second.

Two processes (as many as the API's default workers) each save ``SAVES`` opens (one
``Engagement`` aggregate per save, the pixel's event) on one fresh SQLite event store, one
durable transaction per save:

* ours: ``EmailEvents.save`` (``event_store/sqlite_append.py``: commit under the writers'
  ``flock`` with ``synchronous=NORMAL``, then one WAL ``fdatasync`` shared by every save that
  committed before it started, across processes);
* baseline, same run, same processes: the eventsourcing library's own save path and SQLite
  recorder (``Application.save``; the recorder commits with ``synchronous=FULL``, the WAL
  flushed inside SQLite's write lock, one flush per save).

Printed besides: CPU per save and WAL flushes per save (below 1 when flushes are shared). The
pixel's HTTP figures (``bench.http_api``) add gunicorn, the request and the handler to this.
"""

from __future__ import annotations

import multiprocessing
import shutil
import sys
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

from bench.common import DATA_DIR
from bench.common import Options
from bench.common import Result
from bench.common import fresh_hex
from bench.common import register

PROCESSES = 2
SAVES = 3000
TARGET = 1.0  # at least as fast as the library's own durable save


def _hit() -> Any:
    from event_store.aggregates.engagement import Engagement

    return Engagement(kind="open", email_id=uuid4(), customer_id=uuid4(), recipient="ada@example.org",
                      from_address="news@acme.test", domain="acme.test", domain_id=uuid4(), tag="bench",
                      user_agent="Mozilla/5.0 (bench)", ip="127.0.0.1", seconds_since_sent=42, url=None)


def _saver(path: str, library: bool, start: Any, out: Any) -> None:
    from eventsourcing.application import Application

    from event_store.application import EmailEvents
    from event_store.application import open_application
    from event_store.application import persistence_env
    from event_store.sqlite_append import SharedFlushRecorder

    if library:  # the library's own recorder on the same file
        env = persistence_env(None, path)
        del env["APPLICATION_RECORDER_TOPIC"]
        events = EmailEvents(env=env)
    else:
        events = open_application(None, path)
    save = (lambda hit: Application.save(events, hit)) if library else events.save
    save(_hit())  # connections opened before the clock starts
    start.wait(60)
    began, cpu = time.perf_counter(), time.process_time()
    for _ in range(SAVES):
        save(_hit())
    recorder = events.recorder_
    flushes = recorder.sync.flushes if isinstance(recorder, SharedFlushRecorder) else 0
    out.put((time.perf_counter() - began, time.process_time() - cpu, flushes))
    events.close()


def _run(path: str, library: bool) -> tuple[float, float, float]:
    """(saves/s, CPU µs per save, flushes per save) of PROCESSES processes saving at once."""
    context = multiprocessing.get_context("spawn")
    start, out = context.Barrier(PROCESSES), context.Queue()
    workers = [context.Process(target=_saver, args=(path, library, start, out)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join(60)
    total = PROCESSES * SAVES
    wall = max(r[0] for r in results)
    return total / wall, sum(r[1] for r in results) / total * 1e6, sum(r[2] for r in results) / total


@register("append")
def append(options: Options) -> list[Result]:
    """Durable saves per second, ours vs the library's own path, on fresh SQLite files."""
    from event_store.application import open_application

    run_dir = DATA_DIR / "runs" / f"append-{fresh_hex()}"
    figures = {}
    try:
        for name, library in (("library", True), ("ours", False)):
            path = run_dir / name / "events.sqlite"
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            open_application(None, str(path)).close()  # tables created once
            figures[name] = _run(str(path), library)
            rate, cpu, flushes = figures[name]
            shared = f", {flushes:.2f} WAL flushes per save" if not library else ", one flush per save"
            print(f"  {name}: {rate:,.0f} saves/s, {cpu:.0f} µs CPU per save{shared}", file=sys.stderr)
    finally:
        if not options.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    return [Result("append_saves_per_s", "saves/s", figures["ours"][0], figures["library"][0],
                   f"eventsourcing's own SQLite save (synchronous=FULL), {PROCESSES} processes",
                   TARGET)]
