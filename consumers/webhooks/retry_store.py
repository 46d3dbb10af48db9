"""The durable retry schedule of webhook deliveries: ``webhook_retries(delivery_id, due_at)``.

The same table shape, claim-with-lease and guarantees as the delivery worker's
``delivery_retries`` (``consumers/delivery/retry_store.py``, whose code this reuses), in
the event store's database; only the table and key column are renamed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from consumers.delivery.retry_store import RetryStore

if TYPE_CHECKING:
    pass

TABLE_LOCK = 0x4D4C5748  # PostgreSQL advisory lock id held while the table is created
DDL = (
    "CREATE TABLE IF NOT EXISTS webhook_retries "
    "(delivery_id TEXT PRIMARY KEY, due_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS webhook_retries_due ON webhook_retries (due_at)",
)


class WebhookRetryStore(RetryStore):
    """The ``webhook_retries`` table; keys are delivery ids (``WebhookDelivery.create_id``)."""

    ddl = DDL
    table_lock = TABLE_LOCK

    def _sql(self, sql: str) -> str:
        renamed = sql.replace("delivery_retries", "webhook_retries").replace("message_id", "delivery_id")
        return super()._sql(renamed)
