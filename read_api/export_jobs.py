"""What bulk export jobs (spec §9) read, for the composition root to hand to each side.

* :func:`window` — at request time (write side): validates a job's filters with the very
  parsers of the Events API (``read_api.events.filters``) and of the statistics
  (``read_api.params``), raising :class:`~read_api.params.BadParam`, and fixes the window
  ``[start, end)`` the file will cover: ``end`` is never after the request, so the file is a
  snapshot; an events window never starts before the customer's retention allows.
* :func:`count` and :func:`chunks` — in the exports worker: the number of rows, then the
  file's bytes. Events are the streaming export's (``read_api.events.export``: the Events
  API's rows, ClickHouse-formatted CSV or NDJSON), statistics ``read_api.stats_export``'s.

Filters are the strings the API accepted (``type`` a comma list), stored with the job.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from read_api import stats_export
from read_api.events import export as events_export
from read_api.events import query
from read_api.events.filters import EventFilters
from read_api.events.filters import parse_filters
from read_api.events.listing import visible_since
from read_api.params import BadParam
from read_api.params import series_query

if TYPE_CHECKING:
    from collections.abc import Iterator
    from collections.abc import Mapping
    from datetime import datetime
    from uuid import UUID

    from warehouse.port import ClickHouse

EVENT_FILTERS = ("email_id", "type", "recipient", "from", "tag", "from_timestamp", "to_timestamp")
STATS_FILTERS = ("fromdate", "todate", "domain_id", "tag", "filter", "interval", "timezone")
FILTERS = {"events": EVENT_FILTERS, "stats": STATS_FILTERS}


def window(kind: str, filters: Mapping[str, str], now: datetime, retention_days: int
           ) -> tuple[datetime, datetime]:
    """The checked window ``[start, end)`` of a job requested at ``now``; 400 (BadParam) if invalid."""
    for name in filters:
        if name not in FILTERS[kind]:
            raise BadParam(name, f"is not a filter of {kind} exports; use {', '.join(FILTERS[kind])}")
    if kind == "stats":
        stats = series_query(filters, now).stats
        return stats.start, stats.end
    parsed = parse_filters(filters)
    since = visible_since(retention_days, now)
    # Event times are whole seconds: the snapshot ends after the request's second, so an event
    # of that very second (listed by the Events API a moment ago) is in the file.
    now = now.replace(microsecond=0) + timedelta(seconds=1)
    end = min(parsed.end, now) if parsed.end else now
    start = max(parsed.start, since) if parsed.start else since
    return min(start, end), end


def _events(filters: Mapping[str, str], start: datetime, end: datetime) -> EventFilters:
    return replace(parse_filters(filters), start=start, end=end)


def count(client: ClickHouse, *, kind: str, customer_id: UUID, filters: Mapping[str, str],
          start: datetime, end: datetime) -> int:
    """The number of rows the job's file will have (as of now)."""
    if kind == "stats":
        return stats_export.count(series_query(filters, end), start, end)
    condition, params = query.where(customer_id, start, _events(filters, start, end))
    return int(client.execute(query.count_sql(condition), params)[0][0] or 0)


def chunks(client: ClickHouse, *, kind: str, customer_id: UUID, filters: Mapping[str, str],
           start: datetime, end: datetime, fmt: str) -> Iterator[bytes]:
    """The job's file, in chunks (events stream from ClickHouse in flat memory)."""
    if kind == "stats":
        table = stats_export.rows(client, customer_id=customer_id, query=series_query(filters, end),
                                  start=start, end=end)
        return stats_export.chunks(table, fmt)
    return events_export.export(client, customer_id=customer_id, since=start,
                                filters=_events(filters, start, end), fmt=fmt)
