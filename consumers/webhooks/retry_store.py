"""The durable retry schedule of webhook deliveries: ``webhook_retries(delivery_id, due_at)``.

The same table shape, claim-with-lease and guarantees as the delivery worker's
``delivery_retries`` (``consumers/delivery/retry_store.py``, whose code this reuses), in
the event store's database; only the table and key column are renamed.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING
from typing import Any

from consumers.delivery.retry_store import RetryStore

if TYPE_CHECKING:
    from pathlib import Path

TABLE_LOCK = 0x4D4C5748  # PostgreSQL advisory lock id held while the table is created
DDL = (
    "CREATE TABLE IF NOT EXISTS webhook_retries "
    "(delivery_id TEXT PRIMARY KEY, due_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS webhook_retries_due ON webhook_retries (due_at)",
)


class WebhookRetryStore(RetryStore):
    """The ``webhook_retries`` table; keys are delivery ids (``WebhookDelivery.create_id``)."""

    @classmethod
    def open(cls, event_store_url: str | None, sqlite_path: Path) -> WebhookRetryStore:
        """The schedule in PostgreSQL when ``event_store_url`` is set, else in the SQLite file."""
        if event_store_url:
            import psycopg

            connection: Any = psycopg.connect(event_store_url, autocommit=True, connect_timeout=10)
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (TABLE_LOCK,))
                for statement in DDL:
                    connection.execute(statement)
            return cls(connection, postgres=True)
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(sqlite_path, timeout=30, isolation_level=None,
                                     check_same_thread=False)
        for statement in DDL:
            connection.execute(statement)
        return cls(connection, postgres=False)

    def _sql(self, sql: str) -> str:
        renamed = sql.replace("delivery_retries", "webhook_retries").replace("message_id", "delivery_id")
        return super()._sql(renamed)
