"""Projections: pure envelope -> row functions, plus the port every ClickHouse backend satisfies.

Nothing here does I/O or imports a client library: the backends (``mailerlogic.clickhouse``)
implement :class:`ClickHouse`, and both send the SQL text produced by :func:`render`, so the
18.16 server and the embedded chdb engine always receive byte-identical statements.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import date
from datetime import datetime
from typing import Any
from typing import Protocol
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


class ClickHouse(Protocol):
    """The port to ClickHouse: a 18.16+ server or the embedded chdb engine."""

    def execute(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """Run one statement; SELECT rows come back as typed Python values.

        Types: integers -> int, floats -> float, String -> str, UUID -> uuid.UUID,
        Date -> date, DateTime -> timezone-aware datetime in UTC, Array -> list.
        """
        ...

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows (tuples in ``columns`` order) in one INSERT; raises on failure."""
        ...

    def stream(self, sql: str, params: Mapping[str, Any] | None, fmt: str) -> Iterator[bytes]:
        """Run one SELECT (no FORMAT clause) and yield its rows as ClickHouse formats them.

        ``fmt`` is a ClickHouse output format (``CSV``, ``TabSeparatedRaw``, ...). The bytes are
        passed on in chunks without decoding, so memory stays flat however many rows there are.
        """
        ...

    def close(self) -> None:
        """Release the connection or session."""
        ...


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


__all__ = ["ClickHouse", "literal", "render"]
