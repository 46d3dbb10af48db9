"""Statistics as a file (spec §9 ``kind: stats``): one row per bucket with every §7 total.

A row is ``{"date", sent, delivered, bounced, failed, opens, unique_opens, clicks,
unique_clicks, complaints, unsubscribes, human_opens, scanner_opens, human_clicks,
scanner_clicks, delivery_rate, open_rate, click_rate, bounce_rate, complaint_rate}`` for each
day (of ``timezone``) or UTC hour of the window, empty buckets included with zeros. The buckets
and their ``date`` labels are those of the series endpoints (``read_api.series``), the counts
and rates those of the totals endpoint (``read_api.views``) over the bucket; unique counts are
distinct emails per bucket. The window is hour-granular like every statistic.

The rows are computed in Python from one grouped query, not formatted by ClickHouse: a window
has at most 8,784 buckets (366 days of hours), and the rates must round exactly as the totals
endpoint rounds them. CSV quotes the header and ``date`` and leaves numbers bare (as
ClickHouse's CSV does); NDJSON is one JSON object per line.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from read_api import series
from read_api import views

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import date
    from datetime import datetime
    from uuid import UUID

    from read_api.params import SeriesQuery
    from warehouse.port import ClickHouse

TOTALS = ("sent", "delivered", "bounced", "failed", "opens", "unique_opens", "clicks", "unique_clicks",
          "complaints", "unsubscribes", "human_opens", "scanner_opens", "human_clicks", "scanner_clicks",
          "delivery_rate", "open_rate", "click_rate", "bounce_rate", "complaint_rate")
COLUMNS = ("date", *TOTALS)
TYPES = ("queued", "delivered", "bounced", "failed", "opened", "clicked", "complained", "unsubscribed")
ROWS_PER_CHUNK = 1000

def count(query: SeriesQuery, start: datetime, end: datetime) -> int:
    """How many rows the export of ``[start, end)`` has (its buckets; no query needed)."""
    return len(series._buckets(views.floor_hour(start), end, query.interval, ZoneInfo(query.timezone)))


def rows(client: ClickHouse, *, customer_id: UUID, query: SeriesQuery, start: datetime,
         end: datetime) -> list[dict[str, Any]]:
    """Every bucket of ``[floor(start), end)`` in order, with its totals."""
    zone = ZoneInfo(query.timezone)
    floor = views.floor_hour(start)
    params: dict[str, Any] = {"customer_id": customer_id, "start": floor, "end": end,
                              "tz": query.timezone, "types": TYPES}
    dimensions = views.dimensions(params, query.stats.domain_id, query.stats.tag)
    bucket = "hour" if query.interval == "hour" else "toDate(hour, %(tz)s)"
    sql = series.SERIES_SQL.format(bucket=bucket, dimensions=dimensions,
                                   uniques=views.unique_columns(query.stats.filter))
    found = views.counted(client, sql, params)
    by_bucket: dict[datetime | date, dict[str, tuple[Any, ...]]] = {
        key: {} for key in series._buckets(floor, end, query.interval, zone)}
    for key, event_type, *values in found:
        by_bucket.setdefault(key, {})[event_type] = tuple(values)
    return [{"date": series._label(key, zone), **views._totals(types, query.stats.filter)}
            for key, types in sorted(by_bucket.items())]


def chunks(table: list[dict[str, Any]], fmt: str) -> Iterator[bytes]:
    """``table`` as CSV (with a header line) or NDJSON bytes, :data:`ROWS_PER_CHUNK` rows a chunk."""
    if fmt == "csv":
        yield _csv([list(COLUMNS)])
    for first in range(0, len(table), ROWS_PER_CHUNK):
        part = table[first:first + ROWS_PER_CHUNK]
        if fmt == "csv":
            yield _csv([[row[name] for name in COLUMNS] for row in part])
        else:
            yield b"".join(orjson.dumps({name: row[name] for name in COLUMNS}) + b"\n" for row in part)


def _csv(lines: list[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n").writerows(lines)
    return out.getvalue().encode()
