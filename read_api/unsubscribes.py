"""Spec §10 unsubscribe list, read from the ``suppressions`` projection (``ddl/05_suppressions.sql``).

Guarantees:

* Only active entries: the newest change of each (address, scope) decides (``argMax`` by
  notification-log position), so a re-subscribe hides the entry and a redelivered event
  changes nothing. Newest first (``created_at``, then log position), so pages are stable.
* Only the asking customer's entries (``customer_id`` is always in the ``WHERE``).
* Eventually consistent: the list follows the event stream, usually within a second, while
  the send-time check reads the event store and is immediate.

Filters: ``email`` (case-insensitive substring), ``domain_id`` (one domain's entries, or
``global`` for the entries without a domain), ``source``, and ``fromdate``/``todate`` on
``created_at`` (``[fromdate, todate)``; a bare ``todate`` date includes that day).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any
from uuid import UUID

from read_api.params import BadParam
from read_api.params import parse_when
from read_api.params import whole_number

if TYPE_CHECKING:
    from collections.abc import Mapping

    from warehouse.port import ClickHouse

# As event_store.aggregates.suppression: UNSUBSCRIBE_SOURCES + AUTOMATIC_SOURCES.
SOURCES = ("link", "one-click", "api", "manual", "bounce", "complaint")
GLOBAL = UUID(int=0)  # the projection's domain_id of a global entry
DEFAULT_LIMIT, MAX_LIMIT, MAX_PAGE = 50, 1000, 1_000_000
_EARLIEST, _LATEST = datetime(1970, 1, 2, tzinfo=UTC), datetime(2105, 12, 31, tzinfo=UTC)

# The latest change of each (email, domain_id) of the customer.
_LATEST_SQL = """
    SELECT
        email,
        domain_id,
        max(version) AS last_version,
        argMax(active, version) AS is_active,
        argMax(id, version) AS entry_id,
        argMax(source, version) AS entry_source,
        argMax(reason, version) AS entry_reason,
        argMax(created_at, version) AS entry_created_at
    FROM suppressions
    WHERE customer_id = %(customer_id)s{keys}
    GROUP BY email, domain_id
"""
LIST_SQL = """
SELECT entry_id, email, domain_id, entry_source, entry_reason, entry_created_at
FROM ({latest})
WHERE is_active = 1{entries}
ORDER BY entry_created_at DESC, last_version DESC
LIMIT %(offset)s, %(limit)s
"""
COUNT_SQL = "SELECT count() FROM ({latest}) WHERE is_active = 1{entries}"


@dataclass(frozen=True)
class ListQuery:
    """Filters and page of ``GET /api/customer/unsubscribes``; None means "any"."""

    email: str | None = None
    domain_id: UUID | None = None  # GLOBAL: only the global entries
    source: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    page: int = 1
    limit: int = DEFAULT_LIMIT


def list_query(args: Mapping[str, str]) -> ListQuery:
    """Parse the query string; any invalid parameter raises :class:`BadParam` (a 400)."""
    email = (args.get("email") or "").strip().lower() or None
    if email is not None and len(email) > 320:
        raise BadParam("email", "must be at most 320 characters")
    source = args.get("source") or None
    if source is not None and source not in SOURCES:
        raise BadParam("source", f"must be one of {', '.join(SOURCES)}")
    start = _when(args, "fromdate", end=False)
    end = _when(args, "todate", end=True)
    if start is not None and end is not None and start > end:
        raise BadParam("fromdate", "must not be after todate")
    return ListQuery(email, _domain(args.get("domain_id")), source, start, end,
                     whole_number(args, "page", 1, MAX_PAGE),
                     whole_number(args, "limit", DEFAULT_LIMIT, MAX_LIMIT))


def _domain(text: str | None) -> UUID | None:
    if not text:
        return None
    if text == "global":
        return GLOBAL
    try:
        return UUID(text)
    except ValueError:
        raise BadParam("domain_id", "must be a UUID or global") from None


def _when(args: Mapping[str, str], name: str, *, end: bool) -> datetime | None:
    if not args.get(name):
        return None
    value = parse_when(name, args[name], end=end)
    if not _EARLIEST <= value <= _LATEST:
        raise BadParam(name, "must be between 1970-01-02 and 2105-12-31")
    return value


def unsubscribes(client: ClickHouse, *, customer_id: UUID, query: ListQuery) -> dict[str, Any]:
    """``{"unsubscribes": [...], "pagination": {page, limit, total, pages}}`` of active entries."""
    params: dict[str, Any] = {"customer_id": customer_id, "limit": query.limit,
                              "offset": (query.page - 1) * query.limit}
    latest = _LATEST_SQL.format(keys=_keys(query, params))
    entries = _entries(query, params)
    total = int(client.execute(COUNT_SQL.format(latest=latest, entries=entries), params)[0][0])
    rows = client.execute(LIST_SQL.format(latest=latest, entries=entries), params) if total else []
    return {"unsubscribes": [_entry(row) for row in rows],
            "pagination": {"page": query.page, "limit": query.limit, "total": total,
                           "pages": max(1, math.ceil(total / query.limit))}}


def _keys(query: ListQuery, params: dict[str, Any]) -> str:
    keys = ""
    if query.email is not None:
        keys += " AND position(email, %(email)s) > 0"  # addresses are stored lowercased
        params["email"] = query.email
    if query.domain_id is not None:
        keys += " AND domain_id = %(domain_id)s"
        params["domain_id"] = query.domain_id
    return keys


def _entries(query: ListQuery, params: dict[str, Any]) -> str:
    entries = ""
    if query.source is not None:
        entries += " AND entry_source = %(source)s"
        params["source"] = query.source
    if query.start is not None:  # created_at has whole seconds: compare with whole seconds
        entries += " AND entry_created_at >= %(start)s"
        params["start"] = _ceil_second(query.start)
    if query.end is not None:
        entries += " AND entry_created_at < %(end)s"
        params["end"] = _ceil_second(query.end)
    return entries


def _ceil_second(value: datetime) -> datetime:
    whole = value.replace(microsecond=0)
    return whole + timedelta(seconds=1) if value.microsecond else whole


def _entry(row: tuple[Any, ...]) -> dict[str, Any]:
    entry_id, email, domain_id, source, reason, created_at = row
    return {"id": entry_id, "email": email,
            "domain_id": None if domain_id == GLOBAL else str(domain_id),
            "source": source, "reason": reason or None,
            "created_at": created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
