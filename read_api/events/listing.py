"""Pages of a customer's events and one email's events (spec §8), from ClickHouse.

A page takes three statements: distinct events per hour (their sum is the total, and they say
which hours hold the page: :func:`window`), the page's keys ``(occurred_at, event_id)`` sorted
within those hours only — two small columns — and the shown fields of just those keys.
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

    from read_api.events.filters import PageRequest
    from warehouse.port import ClickHouse

NAMES = tuple(query.FIELDS)
HOUR = timedelta(hours=1)
MAX_EMAIL_EVENTS = 10_000  # one email's events shown at most (opens and clicks can repeat)


def visible_since(retention_days: int, now: datetime) -> datetime:
    """The oldest ``occurred_at`` a customer with ``retention_days`` may still see."""
    return now - timedelta(days=retention_days)


def page(client: ClickHouse, *, customer_id: UUID, since: datetime, filters: EventFilters,
         request: PageRequest) -> dict[str, Any]:
    """``{"events": [...newest first], "pagination": {page, limit, total, pages, next_cursor}}``."""
    condition, params = query.where(customer_id, since, filters)
    hours = [(hour, int(events)) for hour, _, events in client.execute(query.hours_sql(condition), params)]
    total = sum(events for _, events in hours)
    cursor_hour = request.cursor.occurred_at.replace(minute=0, second=0) if request.cursor else None
    found = window(hours, request.offset, request.limit + 1, cursor_hour)
    keys: list[Any] = []
    if found:
        start, end, skip = found
        params.update(window_start=start, window_end=end)
        condition += query.after(request.cursor, params) + query.WINDOW
        keys = client.execute(query.keys_sql(condition, skip, request.limit + 1), params)
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


def window(hours: list[tuple[datetime, int]], offset: int, need: int,
           cursor_hour: datetime | None = None) -> tuple[datetime, datetime, int] | None:
    """``(start, end, skip)``: the hours holding rows ``offset .. offset + need`` (newest first).

    ``hours`` are ``(hour, distinct events)`` newest first. Sorting only those hours makes a
    page of a customer with millions of events read a few hours instead of all of them. With a
    cursor (``offset`` 0) hours after its hour are left out and its own hour counts as empty
    (some of its rows are past the cursor), so the window can only be larger than needed.
    None when the page is past the end.
    """
    if cursor_hour is not None:
        hours = [(hour, 0 if hour == cursor_hour else events) for hour, events in hours
                 if hour <= cursor_hour]
    first, skipped = 0, 0
    while cursor_hour is None and first < len(hours) and skipped + hours[first][1] <= offset:
        skipped += hours[first][1]
        first += 1
    if first == len(hours):
        return None
    last, held = first, hours[first][1]
    while held < offset - skipped + need and last + 1 < len(hours):
        last += 1
        held += hours[last][1]
    return hours[last][0], hours[first][0] + HOUR, offset - skipped


def email_events(client: ClickHouse, *, customer_id: UUID, since: datetime,
                 email_id: UUID) -> list[dict[str, Any]]:
    """One email's visible events, oldest first (at most :data:`MAX_EMAIL_EVENTS`)."""
    condition, params = query.where(customer_id, since, EventFilters(email_id=email_id))
    rows = client.execute(query.rows_sql(condition, query.CHRONOLOGICAL, MAX_EMAIL_EVENTS), params)
    return [shape.event(NAMES, row) for row in rows]
