"""SQL rendering: ``%(name)s`` placeholders become safe ClickHouse literals (pure, no I/O)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date
from datetime import datetime
from typing import Any
from uuid import UUID

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    "\b": "\\b",
    "\f": "\\f",
    "\r": "\\r",
    "\n": "\\n",
    "\t": "\\t",
    "\0": "\\0",
    "\a": "\\a",
    "\v": "\\v",
}
_ESCAPE_TABLE = str.maketrans(_ESCAPES)


def render(sql: str, params: Mapping[str, Any] | None = None) -> str:
    """Substitute each ``%(name)s`` with a safe ClickHouse literal; other ``%`` stay as they are."""
    if not params:
        return sql
    return _PLACEHOLDER.sub(lambda match: literal(params[match.group(1)]), sql)


def literal(value: Any) -> str:
    """One Python value as a ClickHouse literal (sequences become ``(a, b)`` for ``IN``)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return "'" + value.translate(_ESCAPE_TABLE) + "'"
    if isinstance(value, UUID):
        return f"toUUID('{value}')"
    if isinstance(value, datetime):
        return f"toDateTime('{_utc_text(value)}', 'UTC')"
    if isinstance(value, date):
        return f"toDate('{value.isoformat()}')"
    if isinstance(value, list | tuple | set | frozenset):
        return _sequence(value)
    raise TypeError(f"cannot render {type(value).__name__} as a ClickHouse literal")


def _float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def _utc_text(value: datetime) -> str:
    # DateTime has second precision: microseconds are dropped, never rounded.
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
    utc = value.replace(tzinfo=None) - offset
    return utc.strftime("%Y-%m-%d %H:%M:%S")


def _sequence(values: list[Any] | tuple[Any, ...] | set[Any] | frozenset[Any]) -> str:
    if not values:
        raise ValueError("cannot render an empty sequence: `x IN ()` is not valid SQL")
    items = sorted(values, key=repr) if isinstance(values, set | frozenset) else values
    return "(" + ", ".join(literal(item) for item in items) + ")"
