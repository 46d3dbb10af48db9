"""Kafka adapters of the consumer loop: a consumer-group source and a dead-letter topic."""

from __future__ import annotations

import json
import logging
import threading
from time import monotonic
from time import sleep
from typing import TYPE_CHECKING
from typing import Any

from kafka import KafkaConsumer
from kafka import KafkaProducer
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import CommitFailedError
from kafka.errors import RebalanceInProgressError
from kafka.structs import OffsetAndMetadata
from kafka.structs import TopicPartition

from consumers.records import Record

if TYPE_CHECKING:
    from collections.abc import Iterable
    from collections.abc import Mapping

log = logging.getLogger(__name__)

CONSUMER_DEFAULTS: dict[str, Any] = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "max_poll_records": 20_000,
    "fetch_max_bytes": 64 * 1024 * 1024,
    "max_partition_fetch_bytes": 16 * 1024 * 1024,
    "session_timeout_ms": 6_000,  # the broker's minimum: a killed member's partitions move on sooner
    "heartbeat_interval_ms": 2_000,
    "metadata_max_age_ms": 30_000,
}


class Revocations(ConsumerRebalanceListener):  # type: ignore[misc]
    """Remembers the partitions a rebalance took away, until the loop asks.

    kafka-python calls it from inside ``poll`` (on its network thread, while ``poll`` waits),
    before this member rejoins the group: so the loop learns of every revocation before it
    could write a record of that partition again. No I/O here: the listener blocks the
    client's event loop, so a commit from inside it could not complete.
    """

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self._lock = threading.Lock()
        self._taken: set[int] = set()

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        """A rebalance begins: every partition named may go to another member."""
        self._remember(revoked)

    def on_partitions_lost(self, lost: Iterable[TopicPartition]) -> None:
        """The membership expired: the partitions may already have another owner."""
        self._remember(lost)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        """Nothing to do: an assigned partition is read from its last commit."""

    def take(self) -> frozenset[int]:
        """The partitions taken since the last call."""
        with self._lock:
            taken, self._taken = frozenset(self._taken), set()
        return taken

    def _remember(self, partitions: Iterable[TopicPartition]) -> None:
        with self._lock:
            self._taken.update(tp.partition for tp in partitions if tp.topic == self.topic)


class KafkaSource:
    """A consumer-group member; offsets are committed only when the loop says so."""

    def __init__(self, bootstrap: str, topic: str, group: str, *, wait_s: float = 60.0,
                 **overrides: Any) -> None:
        self.topic = topic
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, **{**CONSUMER_DEFAULTS, **overrides}
        )
        # Join the group only once the topic's partitions are known: a member that joins
        # before a just-created topic is in its metadata gets no partitions for minutes.
        deadline = monotonic() + wait_s
        while not self._consumer.partitions_for_topic(topic):
            if monotonic() > deadline:
                self._consumer.close()
                raise RuntimeError(f"topic {topic} has no partitions after {wait_s:.0f}s")
            sleep(0.2)
        self._revocations = Revocations(topic)
        self._first_uncommitted: dict[int, int] = {}  # partition -> first offset polled since commit
        self._consumer.subscribe([topic], listener=self._revocations)

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        """Fetch up to ``max_records`` records across the assigned partitions."""
        polled = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        for tp, records in polled.items():
            if records:
                self._first_uncommitted.setdefault(tp.partition, records[0].offset)
        return [
            Record(tp.topic, tp.partition, r.offset, r.value)
            for tp, records in polled.items()
            for r in records
        ]

    def commit(self, offsets: Mapping[int, int]) -> None:
        """Commit next offsets; a rebalance may refuse it, which only means a replay."""
        try:
            self._consumer.commit(
                {TopicPartition(self.topic, p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()}
            )
        except (CommitFailedError, RebalanceInProgressError):  # the group is (re)assigning
            log.warning("commit refused by a rebalance; the partitions' owner replays the batch")
            return
        for partition in offsets:  # the loop commits everything it polled of these partitions
            self._first_uncommitted.pop(partition, None)

    def revoked(self) -> frozenset[int]:
        """Partitions revoked or lost since the last call.

        The caller drops what it polled of them. A partition given back to this member in the
        same rebalance keeps the client's fetch position (after the dropped records), so it is
        moved back, with an explicit offset, to the first record polled since its last commit,
        or to its last commit (the beginning if none) when nothing was polled: its records are
        read again, none is skipped. The explicit offset also matters when nothing was polled:
        in kafka-python 3.0 a partition given back while its first position was still being
        looked up (a rebalance right after the first assignment) is never fetched again unless
        it is given a position (seen in CI; ``seek_to_beginning`` did not help).
        """
        taken = self._revocations.take()
        if not taken:
            return taken
        assigned = {tp.partition: tp for tp in self._consumer.assignment()}
        for partition in taken:
            first = self._first_uncommitted.pop(partition, None)
            tp = assigned.get(partition)
            if tp is None:
                continue
            if first is None:
                first = self._consumer.committed(tp)
            if first is None:
                first = self._consumer.beginning_offsets([tp])[tp]  # auto_offset_reset="earliest"
            self._consumer.seek(tp, first)
        return taken

    def close(self) -> None:
        """Leave the group."""
        self._consumer.close()


class KafkaDeadLetters:
    """Dead letters to a topic, the original bytes as value and the reason in headers."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")

    def send(self, record: Record, reason: str) -> None:
        """Queue one dead letter."""
        origin = json.dumps({"topic": record.topic, "partition": record.partition,
                             "offset": record.offset}).encode()
        self._producer.send(self.topic, value=record.value,
                            headers=[("origin", origin), ("reason", reason.encode())])

    def flush(self) -> None:
        """Wait until every dead letter is acknowledged."""
        self._producer.flush(timeout=30)

    def close(self) -> None:
        """Close the producer."""
        self._producer.close(timeout=5)
