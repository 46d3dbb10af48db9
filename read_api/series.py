"""Spec §7 time series: per-bucket counts of one kind of event, zero-filled, from ``stats_hourly``.

Buckets are UTC hours, or calendar days of an IANA ``timezone`` (``toDate(hour, zone)``). The
rollup is hourly, so a day of a zone whose offset is not a whole number of hours (for example
``Asia/Kolkata``, +05:30) is approximate: each UTC hour counts wholly on the local date of its
start. Whole-hour zones, DST included, are exact. Empty buckets are filled in Python (no
``WITH FILL``: the 18.16 server lacks it). Unique counts are distinct ``email_id`` per bucket,
and across the whole window for ``total`` (uniqExact states merged, never sums of buckets).
"""

from __future__ import annotations

from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from read_api import views
from read_api.views import FILTERS
from read_api.views import floor_hour
from read_api.views import unique_columns

if TYPE_CHECKING:
    from uuid import UUID

    from warehouse.port import ClickHouse

HOUR = timedelta(hours=1)
INTERVALS = ("day", "hour")
# Columns of SERIES_SQL after bucket and event_type.
ALL, HUMAN, SCANNER, UNIQUE, UNIQUE_HUMAN, UNIQUE_SCANNER, HARD, SOFT = range(8)
SHOWN, UNIQUE_SHOWN = -1, -2  # resolved by ``filter``: all, human_only or scanner_only
_UNIQUE = (UNIQUE, UNIQUE_HUMAN, UNIQUE_SCANNER, UNIQUE_SHOWN)
# kind -> (key, event_type, column); key names as in read_api.views.outbound_totals.
KINDS: dict[str, tuple[tuple[str, str, int], ...]] = {
    "sends": (
        ("sent", "queued", ALL),
        ("delivered", "delivered", ALL),
        ("bounced", "bounced", ALL),
        ("failed", "failed", ALL),
    ),
    "bounces": (("bounced", "bounced", ALL), ("hard", "bounced", HARD), ("soft", "bounced", SOFT)),
    "opens": (
        ("opens", "opened", SHOWN),
        ("unique_opens", "opened", UNIQUE_SHOWN),
        ("human_opens", "opened", HUMAN),
        ("scanner_opens", "opened", SCANNER),
    ),
    "clicks": (
        ("clicks", "clicked", SHOWN),
        ("unique_clicks", "clicked", UNIQUE_SHOWN),
        ("human_clicks", "clicked", HUMAN),
        ("scanner_clicks", "clicked", SCANNER),
    ),
    "spam": (("complaints", "complained", ALL),),
    "unsubscribes": (("unsubscribes", "unsubscribed", ALL),),
}

# soft: bounce_type 'soft'; hard: any other type, so hard + soft = bounced.
SERIES_SQL = """
SELECT
    {bucket} AS bucket,
    event_type,
    COUNT_EVENTS(),
    COUNT_EVENTS_IF(scanner_class = 0),
    COUNT_EVENTS_IF(scanner_class = 2),
    {uniques},
    COUNT_EVENTS_IF(bounce_type != 'soft'),
    COUNT_EVENTS_IF(bounce_type = 'soft')
FROM stats_hourly
WHERE customer_id = %(customer_id)s AND hour >= %(start)s AND hour < %(end)s
    AND event_type IN %(types)s{dimensions}
GROUP BY bucket, event_type
"""


def series(
    client: ClickHouse,
    *,
    kind: str,
    customer_id: UUID,
    start: datetime,
    end: datetime,
    domain_id: UUID | None = None,
    tag: str | None = None,
    filter: str = "all",
    interval: str = "day",
    timezone: str = "UTC",
) -> dict[str, Any]:
    """``{"days": [{"date", ...counts}], "total": {...counts}}`` over the hours [floor(start), end)."""
    zone = _check(kind, filter, interval, timezone)
    floor = floor_hour(start)
    params: dict[str, Any] = {"customer_id": customer_id, "start": floor, "end": end, "tz": timezone}
    params["types"] = sorted({event_type for _, event_type, _ in KINDS[kind]})
    dimensions = views.dimensions(params, domain_id, tag)
    bucket = "hour" if interval == "hour" else "toDate(hour, %(tz)s)"
    uniques = unique_columns(filter) if any(column in _UNIQUE for _, _, column in KINDS[kind]) else (
        "toUInt64(0), toUInt64(0), toUInt64(0)")
    rows = views.counted(client, SERIES_SQL.format(bucket=bucket, dimensions=dimensions, uniques=uniques),
                         params)
    if any(column in _UNIQUE for _, _, column in KINDS[kind]):  # merged states, not sums
        total = views.counted(client, SERIES_SQL.format(bucket="0", dimensions=dimensions,
                                                        uniques=uniques), params)
    else:  # plain counts: the window's total is the sum of its buckets (one query fewer)
        total = _summed(rows)
    by_bucket: dict[Any, dict[str, tuple[Any, ...]]] = {
        key: {} for key in _buckets(floor, end, interval, zone)
    }
    for key, event_type, *values in rows:
        by_bucket.setdefault(key, {})[event_type] = tuple(values)
    days = [
        {"date": _label(key, zone), **_counts(kind, types, filter)}
        for key, types in sorted(by_bucket.items())
    ]
    return {"days": days, "total": _counts(kind, {row[1]: row[2:] for row in total}, filter)}


def _summed(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    sums: dict[str, list[int]] = {}
    for _, event_type, *values in rows:
        into = sums.setdefault(event_type, [0] * len(values))
        for index, value in enumerate(values):
            into[index] += int(value)
    return [(0, event_type, *values) for event_type, values in sums.items()]


def _check(kind: str, filter: str, interval: str, timezone: str) -> ZoneInfo:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if filter not in FILTERS:
        raise ValueError(f"filter must be one of {', '.join(FILTERS)}, not {filter!r}")
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}, not {interval!r}")
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a tzdata folder, a name too long
        raise ValueError(f"timezone must be an IANA time zone name, not {timezone!r}") from None


def _buckets(floor: datetime, end: datetime, interval: str, zone: ZoneInfo) -> list[datetime | date]:
    hours = max(0, -(-(end - floor) // HOUR))  # ceiling: every hour bucket starting before end
    if interval == "hour":
        return [floor + n * HOUR for n in range(hours)]
    if not hours:
        return []
    first = floor.astimezone(zone).date()
    last = (floor + (hours - 1) * HOUR).astimezone(zone).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _label(key: datetime | date, zone: ZoneInfo) -> str:
    if not isinstance(key, datetime):
        return key.isoformat()
    local = key.astimezone(zone).isoformat(timespec="seconds")
    return local.removesuffix("+00:00") + "Z" if local.endswith("+00:00") else local


def _counts(kind: str, by_type: dict[str, tuple[Any, ...]], filter: str) -> dict[str, int]:
    shown = FILTERS[filter]  # 0 all, 1 human, 2 scanner: the column offset of the filter's class
    counts: dict[str, int] = {}
    for key, event_type, column in KINDS[kind]:
        index = {SHOWN: ALL + shown, UNIQUE_SHOWN: UNIQUE + shown}.get(column, column)
        values = by_type.get(event_type)
        counts[key] = int(values[index]) if values else 0
    return counts
