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

# Every wait is short so that an attempt ends within seconds while the broker is away, and
# reconnects are quick so that the relay publishes again within a second of its return (the
# client's own default backs off up to 30 s between connection attempts, and this adapter once
# flushed for 30 s: the relay resumed 33 s after the broker came back).
PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 5,
    "batch_size": 512 * 1024,
    "max_request_size": 16 * 1024 * 1024,
    "bootstrap_timeout_ms": 2000,  # building a producer while the broker is away
    "max_block_ms": 2000,  # send() waiting for the topic's metadata
    "request_timeout_ms": 4000,
    "delivery_timeout_ms": 5000,  # one attempt: a record not acknowledged by then fails the page
    "retry_backoff_ms": 50,
    "reconnect_backoff_ms": 50,
    "reconnect_backoff_max_ms": 250,
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
    """Publishes envelopes keyed by message; a fresh producer after any failure.

    One :meth:`publish` is one attempt: it returns once the broker acknowledged every envelope,
    or raises :class:`PublishError` within ``delivery_timeout_ms`` (plus a second) and discards
    the producer, whose unacknowledged records can then never reach the topic after the retry's.
    """

    def __init__(self, bootstrap: str, topic: str, **overrides: Any) -> None:
        self._bootstrap, self._topic = bootstrap, topic
        self._config = {**PRODUCER_DEFAULTS, **overrides}
        self._producer: KafkaProducer | None = None

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Send all envelopes and wait for every acknowledgement."""
        try:
            producer = self._producer or self._connect()
            futures = [producer.send(self._topic, key=e.key, value=e.to_json()) for e in envelopes]
            # By then every batch is acknowledged or expired (delivery timeout): the wait ends.
            producer.flush(timeout=self._config["delivery_timeout_ms"] / 1000 + 1)
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
                # close() flushes first and raises while records are pending, leaving the I/O
                # thread alive to send them later, after the retry's: stop it without sending.
                _stop_sender(producer)


def _stop_sender(producer: KafkaProducer) -> None:
    sender = getattr(producer, "_sender", None)
    if sender is not None:
        sender.force_close()
        sender.join(5)
    try:
        producer.close(timeout=0)
    except KafkaError:
        log.exception("closing the producer failed")
