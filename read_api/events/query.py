"""The one query builder of the Events API, the streaming export and export jobs (SQL for 18.16+).

Guarantees of every statement built here:

* Only public types (``EMAIL_EVENT_TYPES``) of one customer, inside its retention window
  (``occurred_at >= since``), are ever read.
* Each event appears once, however often the projector inserted its row: ``LIMIT 1 BY
  event_id`` (a ``ReplacingMergeTree`` only collapses duplicates when it merges). On the 18.16
  server it is faster than ``FINAL``, which merges every column of the customer's rows.
* Pages are newest first by ``(occurred_at, event_id)``; a cursor resumes with the tuple
  comparison ``(occurred_at, event_id) < (...)``, so events arriving during a walk (newer)
  never shift it. Export slices are not sorted (``order=None``, see ``export``).
* ClickHouse formats every value (:data:`FIELDS`) itself, so the API, CSV and NDJSON are the
  same strings: ids and times as text (``Z`` times), ``event_data`` as JSON text, ``''`` for a
  missing ``email_id`` or ``tag`` (``null`` in JSON).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from read_api.events.shape import STATUS
from warehouse.sql import literal

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    from read_api.events.filters import Cursor
    from read_api.events.filters import EventFilters

ZERO_UUID = "toUUID('00000000-0000-0000-0000-000000000000')"
_INNER = ("event_id AS e_id, email_id AS e_email, customer_id AS e_customer, event_type AS e_type, "
          "recipient AS e_recipient, from_address AS e_from, tag AS e_tag, occurred_at AS e_at, "
          "recorded_at AS e_recorded, position AS e_position, event_data AS e_data, "
          "scanner_score AS e_scanner")
NEWEST_FIRST = "e_at DESC, e_id DESC"
CHRONOLOGICAL = "e_at, e_position, e_id"


def _time(column: str) -> str:
    return f"concat(replaceOne(toString({column}), ' ', 'T'), 'Z')"


def _array(values: list[str]) -> str:
    return "[" + ", ".join(literal(value) for value in values) + "]"


_STATUS = f"transform(e_type, {_array(list(STATUS))}, {_array(list(STATUS.values()))}, '')"
# API name -> ClickHouse expression over the inner columns; every value is a String.
FIELDS: dict[str, str] = {
    "id": "toString(e_id)",
    "email_id": f"if(e_email = {ZERO_UUID}, '', toString(e_email))",
    "customer_id": "toString(e_customer)",
    "event_type": "e_type",
    "status": _STATUS,
    "recipient": "e_recipient",
    "from": "e_from",
    "tag": "e_tag",
    "timestamp": _time("e_at"),
    # computed on insert (projections.event_data); opens and clicks lead with their scanner
    # confidence 0-100 (projections.scanner: >= 80 scanner, 50-79 suspicious, < 50 human)
    "event_data": ("if(e_type IN ('opened', 'clicked'), concat('{\"scanner_score\":', "
                   "toString(e_scanner), if(e_data = '{}', '}', "
                   "concat(',', substring(e_data, 2, length(e_data) - 1)))), e_data)"),
    "created_at": _time("e_recorded"),
}
NULLABLE = ("email_id", "tag")  # '' means null
_PLAIN = ("id", "email_id", "customer_id", "event_type", "status", "timestamp", "created_at")  # no escaping


_BACKSLASH, _QUOTE = literal("\\"), literal('"')
_ESCAPED_BACKSLASH, _ESCAPED_QUOTE = literal("\\\\"), literal('\\"')
_CONTROL = literal(r"[\x00-\x1f]")
_ANY_CHARACTER = literal(r"(?s).")


def _json_string(text: str) -> str:
    escaped = (f"replaceAll(replaceAll({text}, {_BACKSLASH}, {_ESCAPED_BACKSLASH}), "
               f"{_QUOTE}, {_ESCAPED_QUOTE})")
    # Control characters (rare) become \u00XX character by character; rows without one run
    # that branch on '' (ClickHouse evaluates both branches of an if).
    flagged = f"match({text}, {_CONTROL})"
    characters = f"extractAll(if({flagged}, {escaped}, ''), {_ANY_CHARACTER})"
    spelled = f"arrayStringConcat(arrayMap(c -> if(c < ' ', concat('\\\\u00', hex(c)), c), {characters}))"
    return f"concat('\"', if({flagged}, {spelled}, {escaped}), '\"')"


def _ndjson_line() -> str:
    parts: list[str] = []
    for name, expression in FIELDS.items():
        if name in _PLAIN:
            value = f"concat('\"', {expression}, '\"')"
        elif name == "event_data":
            value = expression
        else:
            value = _json_string(expression)
        if name in NULLABLE:
            value = f"if({expression} = '', 'null', {value})"
        parts.append(f"'{',' if parts else '{'}\"{name}\":', {value}")
    return f"concat({', '.join(parts)}, '}}')"


SELECT_FIELDS = ", ".join(f"{expression} AS `{name}`" for name, expression in FIELDS.items())
SELECT_NDJSON = f"{_ndjson_line()} AS line"


def where(customer_id: UUID, since: datetime, filters: EventFilters) -> tuple[str, dict[str, Any]]:
    """The WHERE clause (and its parameters) of every events statement."""
    start = max(since, filters.start) if filters.start else since
    params: dict[str, Any] = {"customer_id": customer_id, "types": filters.event_types, "since": start}
    clauses = ["customer_id = %(customer_id)s", "event_type IN %(types)s", "occurred_at >= %(since)s"]
    optional = (
        ("end", filters.end, "occurred_at < %(end)s"),
        ("email_id", filters.email_id, "email_id = %(email_id)s"),
        ("recipient", filters.recipient, "positionCaseInsensitiveUTF8(recipient, %(recipient)s) > 0"),
        ("sender", filters.sender, "positionCaseInsensitiveUTF8(from_address, %(sender)s) > 0"),
        ("tag", filters.tag, "tag = %(tag)s"),
    )
    for name, value, clause in optional:
        if value is not None:
            params[name] = value
            clauses.append(clause)
    return " AND ".join(clauses), params


def after(cursor: Cursor | None, params: dict[str, Any]) -> str:
    """`` AND`` rows strictly older than the cursor (the range also narrows the index scan)."""
    if cursor is None:
        return ""
    params.update(after_at=cursor.occurred_at, after_id=cursor.event_id)
    return (" AND occurred_at <= %(after_at)s"
            " AND (occurred_at, event_id) < (%(after_at)s, %(after_id)s)")


def keys_sql(condition: str, offset: int, limit: int) -> str:
    """Phase 1 of a page: only ``(occurred_at, event_id)`` of the rows, newest first."""
    return (f"SELECT occurred_at, event_id FROM events WHERE {condition} "
            f"ORDER BY occurred_at DESC, event_id DESC LIMIT 1 BY event_id LIMIT {offset}, {limit}")


def rows_sql(condition: str, order: str | None = NEWEST_FIRST, limit: int | None = None, *,
             select: str = SELECT_FIELDS, dedup: bool = True) -> str:
    """The shown fields of the rows matching ``condition``, once each (``dedup``), in ``order``.

    ``dedup=False`` (no ``LIMIT 1 BY``) is for rows known to hold no duplicate; ``order=None``
    leaves them in the order ClickHouse reads them (no sort).
    """
    unique = " LIMIT 1 BY event_id" if dedup else ""
    tail = (f" ORDER BY {order}" if order else "") + (f" LIMIT {limit}" if limit is not None else "")
    return f"SELECT {select} FROM (SELECT {_INNER} FROM events WHERE {condition}{unique}){tail}"


def by_keys(customer_id: UUID, keys: list[tuple[datetime, UUID]]) -> tuple[str, dict[str, Any]]:
    """Phase 2 of a page: the rows of ``keys`` (a narrow time range of one customer)."""
    params = {"customer_id": customer_id, "lo": min(at for at, _ in keys),
              "hi": max(at for at, _ in keys), "ids": [event_id for _, event_id in keys]}
    condition = ("customer_id = %(customer_id)s AND occurred_at >= %(lo)s AND occurred_at <= %(hi)s"
                 " AND event_id IN %(ids)s")
    return rows_sql(condition), params


def hours_sql(condition: str) -> str:
    """``(hour, rows, events)`` newest first: rows per hour and distinct events among them.

    A duplicate row has its original's ``occurred_at``, so it falls in the same hour: per-hour
    distinct counts add up exactly, and small per-hour sets are faster than one big one.
    """
    return (f"SELECT toStartOfHour(occurred_at) AS hour, count(), uniqExact(event_id) FROM events "
            f"WHERE {condition} GROUP BY hour ORDER BY hour DESC")


def count_sql(condition: str) -> str:
    """The number of distinct events matching ``condition`` (summed per hour, see above)."""
    return (f"SELECT sum(events) FROM (SELECT uniqExact(event_id) AS events FROM events "
            f"WHERE {condition} GROUP BY toStartOfHour(occurred_at))")


WINDOW = " AND occurred_at >= %(window_start)s AND occurred_at < %(window_end)s"
