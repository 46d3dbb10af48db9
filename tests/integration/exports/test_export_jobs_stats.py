"""Statistics export jobs on both backends: one row per bucket with every §7 total, equal to the
series and totals endpoints over the same window (CSV and NDJSON, days and hours, filters)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from uuid import UUID
from uuid import uuid4

import pytest

from consumers.clickhouse_sink import ClickHouseSink
from read_api.series import KINDS
from read_api.stats_export import COLUMNS
from tests.helpers import envelope
from tests.integration.exports.conftest import Rig

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
HUMAN = {"user_agent": CHROME, "ip": "203.0.113.5", "seconds_since_sent": 3600}
GATEWAY = {"user_agent": "Barracuda Sentinel (EE)", "ip": "64.235.1.1", "seconds_since_sent": 1}
D1, D2 = UUID(int=0xD1), UUID(int=0xD2)
DAYS = ["2026-03-13", "2026-03-14", "2026-03-15", "2026-03-16", "2026-03-17"]
WINDOW = {"fromdate": DAYS[0], "todate": DAYS[-1]}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


# email -> (domain, tag); e1 engages, e2..e4 go wrong.
EMAILS = {"e1": (D1, "welcome"), "e2": (D2, "news"), "e3": (D2, "news"), "e4": (D2, "news")}
STEPS: list[tuple[str, str, datetime, dict[str, Any]]] = [
    ("e1", "queued", at(14, 10), {}),
    ("e1", "delivered", at(14, 10, 1), {}),
    ("e1", "opened", at(14, 11), HUMAN),
    ("e1", "clicked", at(14, 11, 5), HUMAN),
    ("e1", "opened", at(14, 11, 20), HUMAN),
    ("e1", "opened", at(16, 9), HUMAN),
    ("e1", "clicked", at(16, 9, 10), GATEWAY),
    ("e1", "complained", at(16, 9, 30), {}),
    ("e1", "unsubscribed", at(16, 9, 31), {}),
    ("e3", "queued", at(15, 12), {}),
    ("e3", "bounced", at(15, 12, 5), {}),
    ("e4", "queued", at(15, 13), {}),
    ("e4", "failed", at(15, 13, 30), {}),
    ("e2", "queued", at(16, 23, 30), {}),
    ("e2", "bounced", at(16, 23, 45), {"bounce_type": "soft"}),
]
ZERO = dict.fromkeys(COLUMNS[1:], 0)


@pytest.fixture
def acme(rig: Rig) -> str:
    """A starter customer (stats exports are for every tier) with STEPS stored; its key."""
    customer, key = rig.customer("starter")
    ids = {name: uuid4() for name in EMAILS}
    ClickHouseSink(rig.clickhouse).write([
        envelope(kind, 1000 + n, customer_id=customer, email_id=ids[name], at=when,
                 domain_id=str(EMAILS[name][0]), tag=EMAILS[name][1], **extra)
        for n, (name, kind, when, extra) in enumerate(STEPS)])
    ClickHouseSink(rig.clickhouse).write([envelope("queued", 5000, at=at(14, 10))])  # another customer
    return key


def exported(rig: Rig, key: str, fmt: str, **filters: str) -> list[dict[str, Any]]:
    """Run a stats job; its rows (numbers as numbers)."""
    export_id = rig.request(key, kind="stats", format=fmt, **filters)
    rig.work()
    body = rig.download(key, export_id).data
    if fmt == "ndjson":
        rows = [json.loads(line) for line in body.decode().splitlines()]
    else:
        table = list(csv.reader(io.StringIO(body.decode()), quoting=csv.QUOTE_NONNUMERIC))
        assert tuple(table[0]) == COLUMNS
        rows = [dict(zip(COLUMNS, values, strict=True)) for values in table[1:]]
    assert rig.status(key, export_id)["rows_written"] == len(rows)
    return rows


def from_endpoints(rig: Rig, key: str, buckets: list[tuple[str, str, str]],
                   **filters: str) -> list[dict[str, Any]]:
    """Per bucket: the series endpoints' counts, and the totals endpoint's rates over the bucket."""
    series = {kind: rig.get(f"/api/stats/outbound/{kind}", key, **filters).get_json()["days"]
              for kind in KINDS}
    rows = []
    for n, (label, start, end) in enumerate(buckets):
        counts = {k: v for kind in KINDS for k, v in series[kind][n].items()}
        assert counts.pop("date") == label
        window = {**filters, "fromdate": start, "todate": end}
        totals = rig.get("/api/stats/outbound", key, **window).get_json()
        rows.append({"date": label, **{name: counts.get(name, totals[name]) for name in COLUMNS[1:]}})
        assert {name: totals[name] for name in counts if name in totals} == {
            name: counts[name] for name in counts if name in totals}
    return rows


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_day_rows_equal_the_series_and_totals_endpoints(rig: Rig, acme: str, fmt: str) -> None:
    rows = exported(rig, acme, fmt, **WINDOW)
    assert [row["date"] for row in rows] == DAYS
    assert rows == from_endpoints(rig, acme, [(day, day, day) for day in DAYS], **WINDOW)
    assert rows[1] == {"date": "2026-03-14", **ZERO, "sent": 1, "delivered": 1, "opens": 2, "unique_opens": 1,
                       "clicks": 1, "unique_clicks": 1, "human_opens": 2, "human_clicks": 1,
                       "delivery_rate": 100.0, "open_rate": 100.0, "click_rate": 100.0}
    assert rows[2] == {"date": "2026-03-15", **ZERO, "sent": 2, "bounced": 1, "failed": 1,
                       "bounce_rate": 50.0}
    assert (rows[0], rows[4]) == ({"date": DAYS[0], **ZERO}, {"date": DAYS[4], **ZERO})


def test_filters_and_the_scanner_filter_apply(rig: Rig, acme: str) -> None:
    filters = {**WINDOW, "domain_id": str(D1), "filter": "human_only"}
    rows = exported(rig, acme, "ndjson", **filters)
    assert rows == from_endpoints(rig, acme, [(day, day, day) for day in DAYS], **filters)
    day = rows[3]
    assert (day["clicks"], day["scanner_clicks"], day["complaints"], day["sent"]) == (0, 1, 1, 0)
    assert sum(row["sent"] for row in exported(rig, acme, "csv", **WINDOW, tag="news")) == 3


def test_hour_rows_of_a_time_zone_equal_the_hourly_series(rig: Rig, acme: str) -> None:
    filters = {**WINDOW, "interval": "hour", "timezone": "Europe/Berlin"}
    rows = exported(rig, acme, "csv", **filters)
    first = datetime(2026, 3, 12, 23, tzinfo=UTC)  # 2026-03-13 00:00 in Berlin (+01:00)
    assert len(rows) == 5 * 24 and rows[0]["date"] == "2026-03-13T00:00:00+01:00"
    hours = [first + timedelta(hours=n) for n in range(5 * 24)]
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    series = rig.get("/api/stats/outbound/sends", acme, **filters).get_json()["days"]
    assert [{k: row[k] for k in ("date", "sent", "delivered", "bounced", "failed")} for row in rows] == series
    busy = [n for n, row in enumerate(rows) if row["opens"]]
    assert [rows[n]["date"] for n in busy] == ["2026-03-14T12:00:00+01:00", "2026-03-16T10:00:00+01:00"]
    for n in busy:
        totals = rig.get("/api/stats/outbound", acme, fromdate=hours[n].strftime(stamp),
                         todate=(hours[n] + timedelta(hours=1)).strftime(stamp)).get_json()
        assert {k: rows[n][k] for k in COLUMNS[1:]} == totals
