"""Kafka adapter of the relay: an idempotent producer that confirms every record."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from typing import Any

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError
from kafka.errors import TopicAlreadyExistsError

from event_store.relay import PublishError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from event_store.envelope import Envelope

log = logging.getLogger(__name__)

PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 5,
    "batch_size": 512 * 1024,
    "max_request_size": 16 * 1024 * 1024,
    "max_block_ms": 5000,
    "request_timeout_ms": 10000,
    "delivery_timeout_ms": 30000,
}


def ensure_topics(bootstrap: str, topics: Sequence[str], partitions: int) -> None:
    """Create the topics if missing (replication 1 suits one broker; raise it in production)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        existing = set(admin.list_topics())
        new = [NewTopic(t, partitions, 1) for t in topics if t not in existing]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


class KafkaPublisher:
    """Publishes envelopes keyed by message; a fresh producer after any failure."""

    def __init__(self, bootstrap: str, topic: str, **overrides: Any) -> None:
        self._bootstrap, self._topic = bootstrap, topic
        self._config = {**PRODUCER_DEFAULTS, **overrides}
        self._producer: KafkaProducer | None = None

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Send all envelopes and wait for every acknowledgement."""
        try:
            producer = self._producer or self._connect()
            futures = [producer.send(self._topic, key=e.key, value=e.to_json()) for e in envelopes]
            producer.flush(timeout=self._config["delivery_timeout_ms"] / 1000)
            for future in futures:
                future.get(timeout=0)
        except (KafkaError, OSError) as exc:
            self.close()
            raise PublishError(repr(exc)) from exc

    def _connect(self) -> KafkaProducer:
        self._producer = KafkaProducer(bootstrap_servers=self._bootstrap, **self._config)
        return self._producer

    def close(self) -> None:
        """Close the producer, dropping anything unsent (it will be re-published)."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                producer.close(timeout=1)
            except KafkaError:
                log.exception("closing the producer failed")
