"""Projector throughput: Kafka topic -> ClickHouse, ours vs ``kcat | clickhouse-client``.

One run: N cached envelopes are produced once into a fresh 4-partition topic, then

* baseline "native pipe": ``kcat -C ... -e | clickhouse-client ... FORMAT JSONEachRow`` into a
  table of the envelope's top-level scalars, timed from kcat's start to clickhouse-client's exit;
* ours: ``mailerlogic consume projector`` as its own process (``bench.worker``, a fresh consumer
  group) into a fresh database with the real schema (``events`` plus its materialized views),
  timed from process start until ``SELECT count() FROM events`` reaches N.

Both figures are events/s end to end, start-up included.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from clickhouse_driver import Client
from tqdm import tqdm

from bench import dataset
from bench import topic as topics
from bench import warehouse
from bench.common import DATA_DIR
from bench.common import REPO_DIR
from bench.common import Options
from bench.common import Result
from bench.common import Services
from bench.common import fresh_hex
from bench.common import register
from warehouse import schema
from warehouse.clients import connect

TARGET = 0.5
BASELINE = "kcat | clickhouse-client JSONEachRow"


@register("projector")
def projector(options: Options) -> list[Result]:
    """Load the topic once, time the native pipe, then our projector process."""
    services, count = options.services, options.events
    path = dataset.ensure(count, options.seed)
    run = fresh_hex()
    topic, group = f"bench-events-{run}", f"bench-projector-{run}"
    native_db, ours_db, pair_db = f"bench_{run}_pipe", f"bench_{run}", f"bench_{run}_x2"
    run_dir = DATA_DIR / "runs" / run
    run_dir.mkdir(parents=True, exist_ok=True)
    timeout_s = 120 + count / 2_000
    ch = warehouse.admin(services)
    try:
        topics.create(services.bootstrap, topic)
        loaded_s = topics.load(services.bootstrap, topic, path, count, timeout_s)
        print(f"  loaded {count:,} envelopes into {topic} in {loaded_s:.1f}s", file=sys.stderr)
        warehouse.wait_quiet(ch)
        native_s = native_pipe(services, topic, native_db, count, ch, run_dir, timeout_s)
        warehouse.wait_quiet(ch)
        ours_s = ours(services, topic, group, ours_db, count, ch, run_dir, timeout_s)
        warehouse.wait_quiet(ch)
        pair_s = ours(services, topic, f"{group}-x2", pair_db, count, ch, run_dir, timeout_s,
                      processes=2)
    finally:
        if not options.keep:
            warehouse.drop(ch, [native_db, ours_db, pair_db])
            topics.delete(services.bootstrap, [topic, f"{topic}.dlq"], [group, f"{group}-x2"])
            shutil.rmtree(run_dir, ignore_errors=True)
        ch.disconnect()
    native = count / native_s
    return [Result("projector", "events/s", count / ours_s, native, BASELINE, TARGET),
            Result("projector_2_processes", "events/s", count / pair_s, native, BASELINE, TARGET)]


def native_pipe(services: Services, topic: str, database: str, count: int, ch: Client,
                run_dir: Path, timeout_s: float) -> float:
    """Seconds from kcat's start to clickhouse-client's exit, every record inserted."""
    warehouse.create_native(ch, database)
    consume = ["kcat", "-C", "-b", services.bootstrap, "-t", topic, "-o", "beginning", "-e", "-q"]
    insert = ["clickhouse-client", "--host", services.ch_host, "--port", str(services.ch_port),
              "--user", services.ch_user, "--database", database,
              "--date_time_input_format=best_effort", "--input_format_skip_unknown_fields=1",
              "--query", f"INSERT INTO {warehouse.NATIVE_TABLE} FORMAT JSONEachRow"]
    if services.ch_password:
        insert[-2:-2] = ["--password", services.ch_password]
    log_path = run_dir / "native.log"
    with log_path.open("wb") as log:
        start = time.monotonic()
        with subprocess.Popen(consume, stdout=subprocess.PIPE, stderr=log) as kcat, \
                subprocess.Popen(insert, stdin=kcat.stdout, stderr=log) as client:
            if kcat.stdout:
                kcat.stdout.close()  # clickhouse-client owns the read end now
            _wait(client, start, timeout_s, "native pipe")
            elapsed = time.monotonic() - start
            kcat.wait(timeout=10)
    if client.returncode or kcat.returncode:
        raise RuntimeError(f"native pipe failed: {log_path.read_text()[-2000:]}")
    stored = warehouse.count(ch, database, warehouse.NATIVE_TABLE)
    if stored != count:
        raise RuntimeError(f"native pipe stored {stored} rows, expected {count}")
    print(f"  native pipe: {elapsed:.1f}s", file=sys.stderr)
    return elapsed


def _wait(process: subprocess.Popen[bytes], start: float, timeout_s: float, what: str) -> None:
    with tqdm(desc=what, bar_format="{desc}: {elapsed}", leave=False) as bar:
        while process.poll() is None:
            if time.monotonic() - start > timeout_s:
                process.kill()
                raise TimeoutError(f"{what}: not done after {timeout_s:.0f}s")
            time.sleep(0.1)
            bar.refresh()


def ours(services: Services, topic: str, group: str, database: str, count: int, ch: Client,
         run_dir: Path, timeout_s: float, processes: int = 1) -> float:
    """Seconds from starting ``processes`` projectors (one consumer group) until ``events`` is full."""
    url = services.clickhouse_url(database)
    client = connect(url, run_dir)
    try:
        schema.apply(client)
    finally:
        client.close()
    env = {**os.environ, "CLICKHOUSE_URL": url, "MAILERLOGIC_KAFKA_TOPIC": topic,
           "MAILERLOGIC_DATA_DIR": str(run_dir / "var"), "EVENT_STORE_URL": "",
           "MAILERLOGIC_LOG_LEVEL": "WARNING"}
    log_path = run_dir / "projector.log"
    with log_path.open("wb") as log:
        start = time.monotonic()
        workers = [subprocess.Popen([sys.executable, "-m", "bench.worker", group], env=env,
                                    cwd=REPO_DIR, stdout=log, stderr=subprocess.STDOUT)
                   for _ in range(processes)]
        try:
            first_row_s = _until_stored(workers, ch, database, count, start, timeout_s, log_path)
            elapsed = time.monotonic() - start
        finally:
            for process in workers:
                _stop(process, log)
    stored = warehouse.count(ch, database, "events")
    if stored != count:
        raise RuntimeError(f"projector stored {stored} rows, expected {count}")
    steady = count / (elapsed - first_row_s) if elapsed > first_row_s else 0.0
    print(f"  projector x{processes}: {elapsed:.1f}s (first row after {first_row_s:.1f}s; "
          f"{steady:,.0f} events/s after it)", file=sys.stderr)
    return elapsed


def _until_stored(workers: list[subprocess.Popen[bytes]], ch: Client, database: str, count: int,
                  start: float, timeout_s: float, log_path: Path) -> float:
    """Poll the count every 0.2 s; return the seconds until the first row was visible."""
    first_row_s = 0.0
    with tqdm(total=count, desc="projector", unit="ev", unit_scale=True, leave=False) as bar:
        while True:
            stored = warehouse.count(ch, database, "events")
            if stored and not first_row_s:
                first_row_s = time.monotonic() - start
            bar.update(stored - bar.n)
            if stored >= count:
                break
            for process in workers:
                if process.poll() is not None:
                    raise RuntimeError(f"projector exited {process.returncode}: {_tail(log_path)}")
            if time.monotonic() - start > timeout_s:
                raise TimeoutError(f"projector: {stored}/{count} after {timeout_s:.0f}s")
            time.sleep(0.2)
    return first_row_s


def _stop(process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    log.flush()


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:]
