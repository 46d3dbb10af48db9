"""The port to ClickHouse: what every backend (``warehouse.clients``) satisfies.

Both backends send the SQL text produced by :func:`warehouse.sql.render`, so the 18.16 server and
the embedded chdb engine always receive byte-identical statements.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Protocol


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
