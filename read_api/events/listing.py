"""Pages of a customer's events and one email's events (spec §8), from ClickHouse.

A page takes three statements: the total (distinct events), the page's keys
``(occurred_at, event_id)`` — two small columns sorted, so a customer with millions of events
does not sort its payloads — and the shown fields of just those keys.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any

from read_api.events import query
from read_api.events import shape
from read_api.events.filters import MAX_PAGE
from read_api.events.filters import EventFilters
from read_api.events.filters import encode_cursor

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    from projections import ClickHouse
    from read_api.events.filters import PageRequest

NAMES = tuple(query.FIELDS)
MAX_EMAIL_EVENTS = 10_000  # one email's events shown at most (opens and clicks can repeat)


def visible_since(retention_days: int, now: datetime) -> datetime:
    """The oldest ``occurred_at`` a customer with ``retention_days`` may still see."""
    return now - timedelta(days=retention_days)


def page(client: ClickHouse, *, customer_id: UUID, since: datetime, filters: EventFilters,
         request: PageRequest) -> dict[str, Any]:
    """``{"events": [...newest first], "pagination": {page, limit, total, pages, next_cursor}}``."""
    condition, params = query.where(customer_id, since, filters)
    total = int(client.execute(query.count_sql(condition), params)[0][0])
    condition += query.after(request.cursor, params)
    keys = client.execute(query.keys_sql(condition, request.offset, request.limit + 1), params)
    shown = [(at, event_id) for at, event_id in keys[:request.limit]]
    events: list[dict[str, Any]] = []
    if shown:
        sql, key_params = query.by_keys(customer_id, shown)
        events = [shape.event(NAMES, row) for row in client.execute(sql, key_params)]
    number = request.cursor.page if request.cursor else request.page
    next_cursor = None
    if len(keys) > request.limit:
        next_cursor = encode_cursor(*shown[-1], filters, min(number + 1, MAX_PAGE))
    pagination = {"page": number, "limit": request.limit, "total": total,
                  "pages": -(-total // request.limit), "next_cursor": next_cursor}
    return {"events": events, "pagination": pagination}


def email_events(client: ClickHouse, *, customer_id: UUID, since: datetime,
                 email_id: UUID) -> list[dict[str, Any]]:
    """One email's visible events, oldest first (at most :data:`MAX_EMAIL_EVENTS`)."""
    condition, params = query.where(customer_id, since, EventFilters(email_id=email_id))
    rows = client.execute(query.rows_sql(condition, query.CHRONOLOGICAL, MAX_EMAIL_EVENTS), params)
    return [shape.event(NAMES, row) for row in rows]
