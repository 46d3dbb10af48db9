"""The durable retry schedule of deferred deliveries, in the event store's own database.

One small table, ``delivery_retries(message_id, due_at)``, sits next to the events (the
SQLite file, or the PostgreSQL database of ``EVENT_STORE_URL``), so no crash loses a retry:

* the worker upserts an entry *before* it saves the ``Deferred`` event, so a deferred
  message always has one (a crash in between leaves an entry for a message that is still
  ``queued``: the retry loop attempts it, as the replayed queued event would);
* an entry is deleted only after its message's final outcome is saved (or found);
* a claim is a conditional update (``WHERE due_at = <the value seen>``) that moves
  ``due_at`` one lease ahead, so one claimer wins, and the entry of a claimer that dies
  is due again when its lease ends.

``due_at`` is stored as integer milliseconds since the epoch, so the claim's comparison is
exact on both databases. Creating the table is idempotent and, on PostgreSQL, serialised
with an advisory lock so that processes starting together do not race.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any
from typing import Self
from uuid import UUID

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import timedelta
    from pathlib import Path

TABLE_LOCK = 0x4D4C5254  # PostgreSQL advisory lock id held while the table is created
DDL = (
    "CREATE TABLE IF NOT EXISTS delivery_retries "
    "(message_id TEXT PRIMARY KEY, due_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS delivery_retries_due ON delivery_retries (due_at)",
)
_UPSERT = ("INSERT INTO delivery_retries (message_id, due_at) VALUES (?, ?) "
           "ON CONFLICT (message_id) DO UPDATE SET due_at = excluded.due_at")
_ENSURE = ("INSERT INTO delivery_retries (message_id, due_at) VALUES (?, ?) "
           "ON CONFLICT (message_id) DO NOTHING")
_DUE = "SELECT message_id, due_at FROM delivery_retries WHERE due_at <= ? ORDER BY due_at LIMIT ?"
_MOVE = "UPDATE delivery_retries SET due_at = ? WHERE message_id = ? AND due_at = ?"


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime."""
    return round(moment.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    """The aware UTC datetime of milliseconds since the epoch."""
    return datetime.fromtimestamp(value / 1000, UTC)


class RetryStore:
    """The ``delivery_retries`` table over one DB-API connection, shared by threads with a lock."""

    ddl: tuple[str, ...] = DDL
    table_lock: int = TABLE_LOCK

    def __init__(self, connection: Any, *, postgres: bool) -> None:
        self._conn, self._postgres = connection, postgres
        self._lock = threading.Lock()
        self._claims: dict[UUID, int] = {}  # message id -> due_at this store set when claiming

    @classmethod
    def open(cls, event_store_url: str | None, sqlite_path: Path) -> Self:
        """The schedule in PostgreSQL when ``event_store_url`` is set, else in the SQLite file."""
        if event_store_url:
            import psycopg

            connection: Any = psycopg.connect(event_store_url, autocommit=True, connect_timeout=10)
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (cls.table_lock,))
                for statement in cls.ddl:
                    connection.execute(statement)
            return cls(connection, postgres=True)
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(sqlite_path, timeout=30, isolation_level=None,
                                     check_same_thread=False)
        for statement in cls.ddl:
            connection.execute(statement)
        return cls(connection, postgres=False)

    def upsert(self, message_id: UUID, due_at: datetime) -> None:
        """Schedule (or reschedule) a retry at ``due_at``."""
        self._run(_UPSERT, (str(message_id), to_ms(due_at)))
        self._forget(message_id)

    def ensure(self, message_id: UUID, due_at: datetime) -> None:
        """Schedule a retry at ``due_at`` unless one is already scheduled."""
        self._run(_ENSURE, (str(message_id), to_ms(due_at)))

    def delete(self, message_id: UUID) -> None:
        """Forget a message's retry."""
        self._run("DELETE FROM delivery_retries WHERE message_id = ?", (str(message_id),))
        self._forget(message_id)

    def due(self, message_id: UUID) -> datetime | None:
        """When a message's retry is due, or None if none is scheduled."""
        rows = self._run("SELECT due_at FROM delivery_retries WHERE message_id = ?", (str(message_id),))
        return from_ms(rows[0][0]) if rows else None

    def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[UUID]:
        """Up to ``limit`` entries due at ``now``, each moved to ``now + lease`` for this claimer."""
        until = to_ms(now + lease)
        claimed = []
        for text, seen in self._run(_DUE, (to_ms(now), limit)):
            if self._count(_MOVE, (until, text, seen)) == 1:  # 0: another claimer won
                claimed.append(UUID(text))
        with self._lock:
            self._claims.update(dict.fromkeys(claimed, until))
        return claimed

    def release(self, message_ids: Sequence[UUID], now: datetime) -> None:
        """Make entries this store claimed but did not attempt due at ``now`` again."""
        for message_id in message_ids:
            until = self._forget(message_id)
            if until is not None:
                self._count(_MOVE, (to_ms(now), str(message_id), until))

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def _forget(self, message_id: UUID) -> int | None:
        with self._lock:
            return self._claims.pop(message_id, None)

    def _run(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            cursor = self._conn.execute(self._sql(sql), params)
            return list(cursor.fetchall()) if cursor.description else []

    def _count(self, sql: str, params: tuple[Any, ...]) -> int:
        with self._lock:
            return int(self._conn.execute(self._sql(sql), params).rowcount)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._postgres else sql
