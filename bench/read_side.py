"""Read side at scale: statistics latency and export throughput on 10 M events (issue 4).

One run: a fresh ClickHouse database gets ``10 x --events`` generated events (default 10 M)
for 1,000 customers, one of them ("big") with ``--events`` (1 M) of them, written with one
``INSERT ... SELECT`` so the materialized views fill ``stats_hourly`` as in production.
The real API (``mailerlogic api``, gunicorn x2) serves it; two of the customers exist in its
event store (the big one and a typical one, both enterprise so the export is allowed).

Figures, each next to a baseline measured in the same run:

* p50/p95 of ``GET /api/stats/outbound`` (30 days) and of the daily series
  ``/api/stats/outbound/sends?interval=day``, sequential requests on one keep-alive
  connection, against the same question asked naively of the raw ``events`` table through
  the native driver (no HTTP). Limits: p95 < 15 ms (typical), < 50 ms (big).
* rows/s of ``GET /api/events/export?format=csv`` for the big customer against
  ``clickhouse-client --query "SELECT ... FORMAT CSV"`` of the same rows and values (the
  export's own statement, in one piece). Target 0.5.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID
from uuid import uuid5

from bench import warehouse
from bench.common import DATA_DIR
from bench.common import REPO_DIR
from bench.common import Options
from bench.common import Result
from bench.common import fresh_hex
from bench.common import register
from bench.http_api import LowerIsBetter
from bench.http_api import _free_port
from bench.http_api import _mailerlogic
from bench.http_api import _wait_healthy

CUSTOMERS = 1000
SAMPLES = 300
WARMUP = 30
TYPICAL_P95_MS = 15.0
BIG_P95_MS = 50.0
EXPORT_TARGET = 0.5
DAYS = 90  # generated events spread over the last 90 days
NAMESPACE = UUID("5b1c0d5e-0000-4000-8000-000000000000")

# Event mix by `number % 1000`: cumulative per-mille bounds.
MIX = (("queued", 300), ("sent", 540), ("delivered", 780), ("opened", 900), ("clicked", 950),
       ("bounced", 975), ("failed", 985), ("complained", 990), ("unsubscribed", 1000))

NAIVE_TOTALS = """SELECT event_type, count(), uniqExact(email_id) FROM {db}.events
WHERE customer_id = %(c)s AND occurred_at >= %(start)s AND occurred_at < %(end)s
GROUP BY event_type"""
NAIVE_SERIES = """SELECT toDate(occurred_at) AS day, count() FROM {db}.events
WHERE customer_id = %(c)s AND event_type = 'queued' AND occurred_at >= %(start)s
  AND occurred_at < %(end)s GROUP BY day ORDER BY day"""


def generate_sql(db: str, total: int, big: UUID, others: list[UUID], now: int) -> str:
    """One INSERT ... SELECT of ``total`` events: the first ``total // 10`` for ``big``."""
    big_n = total // 10
    ids = ", ".join(f"toUUID('{c}')" for c in others)
    kinds = ", ".join(f"number % 1000 < {bound}, '{kind}'" for kind, bound in MIX[:-1])
    from projections.events import COLUMNS

    return f"""INSERT INTO {db}.events ({", ".join(COLUMNS)})
SELECT
    generateUUIDv4() AS event_id,
    number AS position,
    multiIf({kinds}, '{MIX[-1][0]}') AS event_type,
    if(number < {big_n}, toUUID('{big}'), arrayElement([{ids}], (number % {len(others)}) + 1))
        AS customer_id,
    generateUUIDv4() AS email_id,
    toDateTime({now} - (intHash32(number) % {DAYS * 86400}), 'UTC') AS occurred_at,
    occurred_at AS recorded_at,
    concat('user', toString(number % 50000), '@example.com') AS recipient,
    'news@bench.test' AS from_address,
    'bench.test' AS domain,
    toUUID('00000000-0000-0000-0000-000000000000') AS domain_id,
    if(number % 3 = 0, 'newsletter', '') AS tag,
    toUInt8(if(event_type IN ('opened', 'clicked'), number % 100, 0)) AS scanner_score,
    '' AS user_agent, '' AS ip, '' AS url,
    toUInt16(if(event_type = 'bounced', 550, 250)) AS smtp_code,
    if(event_type = 'bounced', 'hard', '') AS bounce_type,
    '' AS reason,
    '{{"attempt":1}}' AS payload
FROM numbers({total})"""


@dataclass
class Latency:
    """Sorted samples in milliseconds."""

    samples: list[float]

    def pct(self, p: float) -> float:
        """The p-th percentile (nearest rank)."""
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]

    def line(self) -> str:
        """p50 / p95 for stderr."""
        return (f"p50 {self.pct(50):.1f} ms, p95 {self.pct(95):.1f} ms, "
                f"mean {statistics.fmean(self.samples):.1f} ms")


def timed(call: Callable[[], Any], samples: int = SAMPLES, warmup: int = WARMUP) -> Latency:
    """Milliseconds of ``samples`` sequential calls after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        call()
    found = []
    for _ in range(samples):
        start = time.perf_counter()
        call()
        found.append((time.perf_counter() - start) * 1e3)
    return Latency(found)


class Http:
    """One keep-alive connection to the API with a customer's key."""

    def __init__(self, port: int, key: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.headers = {"X-API-Key": key}

    def get(self, path: str) -> bytes:
        """GET ``path``; raise unless 200."""
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}: {body[:300]!r}")
        return body

    def stream_lines(self, path: str) -> int:
        """GET ``path`` streaming; the number of lines received."""
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}: {response.read()[:300]!r}")
        lines = 0
        for _ in range(10**9):  # bounded: chunks of 1 MiB
            chunk = response.read(1 << 20)
            if not chunk:
                break
            lines += chunk.count(b"\n")
        return lines


@dataclass
class Setup:
    """The run's database, API and customers."""

    database: str
    port: int
    keys: dict[str, str]  # "big" / "typical" -> API key
    ids: dict[str, UUID]


@register("read")
def read(options: Options) -> list[Result]:
    """Stats and series latency (typical and big customer) and export rows/s."""
    total = options.events * 10
    with _setup(options, total) as setup:
        ch = warehouse.admin(options.services)
        try:
            results = _latencies(options, setup, ch)
            results += _export(options, setup)
        finally:
            ch.disconnect()
    return results


def _latencies(options: Options, setup: Setup, ch: Any) -> list[Result]:
    end = int(time.time())
    params = {"start": _utc(end - 30 * 86400), "end": _utc(end)}
    results: list[Result] = []
    for who, limit in (("typical", TYPICAL_P95_MS), ("big", BIG_P95_MS)):
        api = Http(setup.port, setup.keys[who])
        question = {**params, "c": setup.ids[who]}
        for what, path, naive_sql in (
            ("stats", "/api/stats/outbound", NAIVE_TOTALS),
            ("series", "/api/stats/outbound/sends?interval=day", NAIVE_SERIES),
        ):
            ours = timed(lambda path=path, api=api: api.get(path))  # type: ignore[misc]
            sql = naive_sql.format(db=setup.database)
            naive = timed(lambda sql=sql, q=question: ch.execute(sql, q))  # type: ignore[misc]
            print(f"  {what} ({who}): ours {ours.line()}; naive raw events {naive.line()}",
                  file=sys.stderr)
            for pct in (50, 95):
                results.append(LowerIsBetter(
                    f"{what}_{who}_p{pct}_ms", "ms", ours.pct(pct), naive.pct(pct),
                    f"naive query of raw events p{pct} (driver, no HTTP)"
                    + (f"; limit {limit:.0f} ms" if pct == 95 else ""),
                    round(naive.pct(pct) / limit, 3) if pct == 95 else 0.0))
        api.conn.close()
    del options
    return results


def _export(options: Options, setup: Setup) -> list[Result]:
    api = Http(setup.port, setup.keys["big"])
    start = time.perf_counter()
    lines = api.stream_lines("/api/events/export?format=csv&from_timestamp=2000-01-01")
    ours_s = time.perf_counter() - start
    api.conn.close()
    rows = lines - 1  # the header
    query = baseline_export_sql(setup.database, setup.ids["big"]) + " FORMAT CSV"
    client = shutil.which("clickhouse-client") or "clickhouse-client"
    start = time.perf_counter()
    done = subprocess.run([client, "--host", options.services.ch_host, "--port",
                           str(options.services.ch_port), "--database", setup.database,
                           "--query", query],
                          capture_output=True, timeout=1800, check=True)
    native_s = time.perf_counter() - start
    native_rows = done.stdout.count(b"\n")
    ours_rps, native_rps = rows / ours_s, native_rows / native_s
    print(f"  export (big): ours {rows:,} rows in {ours_s:.2f}s ({ours_rps:,.0f} rows/s); "
          f"clickhouse-client {native_rows:,} rows in {native_s:.2f}s ({native_rps:,.0f} rows/s)",
          file=sys.stderr)
    if rows != native_rows:
        print(f"  EXPORT ROW COUNT MISMATCH: {rows:,} vs {native_rows:,}", file=sys.stderr)
    return [
        Result("export_rows_per_s", "rows/s", ours_rps, native_rps,
               "clickhouse-client FORMAT CSV, same rows and values", EXPORT_TARGET),
        Result("export_rows", "rows", float(rows), float(native_rows), "clickhouse-client rows",
               1.0 if rows == native_rows else float("inf")),
    ]


def baseline_export_sql(database: str, customer_id: UUID) -> str:
    """The export's own statement in one piece (same rows, columns and values, de-duplicated):
    what ``clickhouse-client`` runs as the baseline."""
    from datetime import UTC
    from datetime import datetime
    from datetime import timedelta

    from read_api.events import query
    from read_api.events.filters import parse_filters
    from warehouse.sql import render

    since = datetime.now(UTC) - timedelta(days=365)
    condition, params = query.where(customer_id, since, parse_filters({}))
    del database  # clickhouse-client runs it with --database
    return render(query.rows_sql(condition, None), params)


@contextmanager
def _setup(options: Options, total: int) -> Iterator[Setup]:
    hex_ = fresh_hex()
    run_dir = DATA_DIR / "runs" / f"read-{hex_}"
    run_dir.mkdir(parents=True, exist_ok=True)
    database = f"bench_read_{hex_}"
    ch = warehouse.admin(options.services)
    process: subprocess.Popen[bytes] | None = None
    try:
        ch.execute(f"CREATE DATABASE {database}")
        port = _free_port()
        env = {**os.environ, "PORT": str(port), "MAILERLOGIC_DATA_DIR": str(run_dir / "var"),
               "EVENT_STORE_URL": "", "CLICKHOUSE_URL": options.services.clickhouse_url(database),
               "MAILERLOGIC_LOG_LEVEL": "WARNING", "MAILERLOGIC_API_WORKERS": "2"}
        keys, ids = {}, {}
        for who in ("big", "typical"):
            keys[who], ids[who] = _customer(env, who)
        subprocess.run([_mailerlogic(), "init-clickhouse"], env=env, cwd=REPO_DIR, check=True,
                       capture_output=True, timeout=120)
        others = [ids["typical"]] + [uuid5(NAMESPACE, str(n)) for n in range(CUSTOMERS - 2)]
        start = time.monotonic()
        ch.execute(generate_sql(database, total, ids["big"], others, int(time.time())),
                   settings={"max_insert_block_size": 1_000_000})
        print(f"  generated {total:,} events ({total // 10:,} for the big customer) in "
              f"{time.monotonic() - start:.1f}s; merges settled in "
              f"{warehouse.wait_quiet(ch, 300):.1f}s", file=sys.stderr)
        log = (run_dir / "api.log").open("wb")
        process = subprocess.Popen([_mailerlogic(), "api", "--workers", "2"], env=env, cwd=REPO_DIR,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_healthy(port, process, run_dir / "api.log")
        yield Setup(database, port, keys, ids)
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait(timeout=30)
        if not options.keep:
            warehouse.drop(ch, [database])
            shutil.rmtree(run_dir, ignore_errors=True)
        ch.disconnect()


def _customer(env: dict[str, str], who: str) -> tuple[str, UUID]:
    out = subprocess.run([_mailerlogic(), "customers", "create", "--name", f"Read {who}", "--email",
                          f"{who}@bench.test", "--tier", "enterprise", "--domain", "bench.test",
                          "--json"], env=env, cwd=REPO_DIR, capture_output=True, check=True,
                         timeout=60)
    data = json.loads(out.stdout)
    return str(data["api_key"]), UUID(data["customer"]["id"])


def _utc(seconds: int) -> Any:
    from datetime import UTC
    from datetime import datetime

    return datetime.fromtimestamp(seconds, UTC)


__all__ = ["generate_sql", "read"]
