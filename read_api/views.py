"""Read views: query functions over ClickHouse, each with its SQL beside it."""

from __future__ import annotations

import re
from datetime import UTC
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    from warehouse.port import ClickHouse

# filter -> which scanner classes it shows: index of the all / human / scanner columns below.
FILTERS = {"all": 0, "human_only": 1, "scanner_only": 2}

# One row per event type: all / human / scanner counts and distinct messages. uniqExact states
# merge across hours, domains and tags, so "unique" means distinct email_id in the window.
# COUNT_EVENTS() / COUNT_EVENTS_IF(cond) are rendered by :func:`counted`.
TOTALS_SQL = """
SELECT
    event_type,
    COUNT_EVENTS() AS total,
    COUNT_EVENTS_IF(scanner_class = 0) AS human,
    COUNT_EVENTS_IF(scanner_class = 2) AS scanner,
    {uniques}
FROM stats_hourly
WHERE customer_id = %(customer_id)s AND hour >= %(start)s AND hour < %(end)s{dimensions}
GROUP BY event_type
"""


def outbound_totals(
    client: ClickHouse,
    *,
    customer_id: UUID,
    start: datetime,
    end: datetime,
    domain_id: UUID | None = None,
    tag: str | None = None,
    filter: str = "all",
) -> dict[str, int | float]:
    """Spec §7 totals; hour-granular: hour buckets from floor(start) to before ``end``.

    ``sent`` counts messages accepted for delivery (``queued`` events), as the outbound
    webhook ``email.sent`` means "accepted for delivery". ``opens``, ``unique_opens``,
    ``clicks`` and ``unique_clicks`` (and so the open and click rates) follow ``filter``:
    ``all``, ``human_only`` (class 0) or ``scanner_only`` (class 2); ``human_*`` and
    ``scanner_*`` never do. Rates are percentages rounded to 2 decimals, 0.0 on a zero
    denominator: delivery and bounce over ``sent``; open, click and complaint over
    ``delivered`` (over ``sent`` while nothing is delivered).
    """
    if filter not in FILTERS:
        raise ValueError(f"filter must be one of {', '.join(FILTERS)}, not {filter!r}")
    params: dict[str, Any] = {"customer_id": customer_id, "start": floor_hour(start), "end": end}
    rows = counted(client, TOTALS_SQL.format(dimensions=dimensions(params, domain_id, tag),
                                             uniques=unique_columns(filter)), params)
    by_type = {row[0]: row[1:] for row in rows}
    return _totals(by_type, filter)


# Event counts of ``stats_hourly``: each row's ``events`` is the set of its distinct positions.
# A position belongs to exactly one key (its customer, hour, type and dimensions), so while no
# position is stored twice the sum of each row's distinct count is exact, and cheap; a customer
# listed in ``stats_duplicates`` gets the states merged (uniqExactMerge), exact in every case.
_COUNT_IF = re.compile(r"COUNT_EVENTS_IF\(([^()]*)\)")
_DUPLICATED = (",\n    (SELECT count() FROM stats_duplicates WHERE customer_id = %(customer_id)s)"
               " AS duplicated")


def counted(client: ClickHouse, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows of a ``stats_hourly`` query written with ``COUNT_EVENTS()`` / ``COUNT_EVENTS_IF(cond)``.

    One round trip when the customer has no position stored twice (the usual case): the fast
    form carries a last column saying whether it has, and only then is the exact form run.
    """
    fast = _COUNT_IF.sub(r"sumIf(finalizeAggregation(events), \1)", sql).replace(
        "COUNT_EVENTS()", "sum(finalizeAggregation(events))")
    head, found, tail = fast.partition("\nFROM stats_hourly")
    if not found:
        raise ValueError("a counted query reads FROM stats_hourly")
    rows = client.execute(head + _DUPLICATED + found + tail, params)
    if not any(row[-1] for row in rows):
        return [row[:-1] for row in rows]
    exact = _COUNT_IF.sub(r"uniqExactMergeIf(events, \1)", sql).replace(
        "COUNT_EVENTS()", "uniqExactMerge(events)")
    return client.execute(exact, params)


def floor_hour(start: datetime) -> datetime:
    """The UTC hour ``start`` falls in: statistics are hour-granular."""
    return start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def dimensions(params: dict[str, Any], domain_id: UUID | None, tag: str | None) -> str:
    """The ``AND`` clauses of the optional ``domain_id`` and ``tag`` filters (params filled in)."""
    clauses = ""
    if domain_id is not None:
        clauses += " AND domain_id = %(domain_id)s"
        params["domain_id"] = domain_id
    if tag is not None:
        clauses += " AND tag = %(tag)s"
        params["tag"] = tag
    return clauses


# The classes of each filter, as the all / human / scanner unique columns show them.
_CLASS_CONDITIONS = ("", " AND scanner_class = 0", " AND scanner_class = 2")


def unique_columns(filter: str) -> str:
    """The all / human / scanner distinct-message columns, only the ``filter``'s one computed.

    Only opens and clicks show distinct counts, and only for the filter's class: merging the
    uniqExact states of every other row (sends, deliveries, the other classes) is most of a
    big customer's query time, so those columns are a constant 0.
    """
    shown = FILTERS[filter]
    merged = (f"uniqExactMergeIf(emails, event_type IN ('opened', 'clicked')"
              f"{_CLASS_CONDITIONS[shown]})")
    return ", ".join(merged if n == shown else "toUInt64(0)" for n in range(3))


def _totals(by_type: dict[str, tuple[Any, ...]], filter: str) -> dict[str, int | float]:
    def count(event_type: str, column: int = 0) -> int:
        return int(by_type.get(event_type, (0,) * 6)[column])

    shown = FILTERS[filter]  # column of the filter's class: 0 all, 1 human, 2 scanner
    counts: dict[str, int | float] = {
        "sent": count("queued"),
        "delivered": count("delivered"),
        "bounced": count("bounced"),
        "failed": count("failed"),
        "opens": count("opened", shown),
        "unique_opens": count("opened", 3 + shown),
        "clicks": count("clicked", shown),
        "unique_clicks": count("clicked", 3 + shown),
        "complaints": count("complained"),
        "unsubscribes": count("unsubscribed"),
        "human_opens": count("opened", 1),
        "scanner_opens": count("opened", 2),
        "human_clicks": count("clicked", 1),
        "scanner_clicks": count("clicked", 2),
    }
    return {**counts, **_rates(counts)}


def _rates(counts: dict[str, int | float]) -> dict[str, float]:
    sent, delivered = counts["sent"], counts["delivered"]
    engaged = delivered or sent
    return {
        "delivery_rate": _percent(delivered, sent),
        "open_rate": _percent(counts["unique_opens"], engaged),
        "click_rate": _percent(counts["unique_clicks"], engaged),
        "bounce_rate": _percent(counts["bounced"], sent),
        "complaint_rate": _percent(counts["complaints"], engaged),
    }


def _percent(part: int | float, whole: int | float) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0
