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
    from collections.abc import Callable
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
REJOIN_PATIENCE_S = 15.0  # a rebalance ends within a second or two here; every member polls every 0.1 s


class Revocations(ConsumerRebalanceListener):  # type: ignore[misc]
    """Remembers the partitions a rebalance took away, until the loop asks.

    kafka-python calls it from inside ``poll`` (on its network thread, while ``poll`` waits),
    before this member rejoins the group: so the loop learns of every revocation before it
    could write a record of that partition again. No I/O here: the listener blocks the
    client's event loop, so a commit from inside it could not complete.

    It also times the rebalance: from a revocation until the next assignment, the member
    fetches nothing (kafka-python gates the revoked partitions until the join completes).
    """

    def __init__(self, topic: str, clock: Callable[[], float] = monotonic) -> None:
        self.topic = topic
        self._clock = clock
        self._lock = threading.Lock()
        self._taken: set[int] = set()
        self._rebalancing_since: float | None = None

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        """A rebalance begins: every partition named may go to another member."""
        self._remember(revoked)

    def on_partitions_lost(self, lost: Iterable[TopicPartition]) -> None:
        """The membership expired: the partitions may already have another owner."""
        self._remember(lost)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        """The rebalance is over: an assigned partition is read from its last commit."""
        with self._lock:
            self._rebalancing_since = None

    def take(self) -> frozenset[int]:
        """The partitions taken since the last call."""
        with self._lock:
            taken, self._taken = frozenset(self._taken), set()
        return taken

    def rebalancing_for(self) -> float:
        """Seconds since a revocation that no assignment has followed yet (0 when none)."""
        with self._lock:
            since = self._rebalancing_since
        return 0.0 if since is None else self._clock() - since

    def _remember(self, partitions: Iterable[TopicPartition]) -> None:
        with self._lock:
            self._taken.update(tp.partition for tp in partitions if tp.topic == self.topic)
            if self._rebalancing_since is None:
                self._rebalancing_since = self._clock()


class KafkaSource:
    """A consumer-group member; offsets are committed only when the loop says so."""

    def __init__(self, bootstrap: str, topic: str, group: str, *, wait_s: float = 60.0,
                 rejoin_patience_s: float = REJOIN_PATIENCE_S, **overrides: Any) -> None:
        self.topic = topic
        self._config = {"bootstrap_servers": bootstrap, "group_id": group, **CONSUMER_DEFAULTS, **overrides}
        self._wait_s = wait_s
        self._rejoin_patience_s = rejoin_patience_s
        self._first_uncommitted: dict[int, int] = {}  # partition -> first offset polled since commit
        self._revocations = Revocations(topic)
        self._consumer = self._join()

    def _join(self) -> KafkaConsumer:
        """A new group member subscribed to the topic.

        It subscribes only once the topic's partitions are known: a member that joins before a
        just-created topic is in its metadata gets no partitions for minutes.
        """
        consumer = KafkaConsumer(**self._config)
        deadline = monotonic() + self._wait_s
        while not consumer.partitions_for_topic(self.topic):
            if monotonic() > deadline:
                consumer.close()
                raise RuntimeError(f"topic {self.topic} has no partitions after {self._wait_s:.0f}s")
            sleep(0.2)
        consumer.subscribe([self.topic], listener=self._revocations)
        return consumer

    def _rejoin_if_stuck(self) -> None:
        """Replace a member whose rebalance never ends with a new member.

        kafka-python 3.0.12 can leave a leader's join unanswered forever when a second
        rebalance follows the first assignment within milliseconds (seen on the real broker:
        "performing partition assignments", then no SyncGroup answer, no error, and the
        revoked partitions are never fetched again). The old member holds nothing the loop
        has not dropped already (every partition was revoked), so a new member simply reads
        from the last commits.
        """
        stuck_s = self._revocations.rebalancing_for()
        if stuck_s <= self._rejoin_patience_s:
            return
        log.warning("the group rebalance has not ended after %.0f s: rejoining as a new member", stuck_s)
        self._revocations.on_partitions_lost(self._consumer.assignment())  # the loop drops them all
        try:
            self._consumer.close()
        except Exception:  # a member that cannot leave cleanly expires with its session
            log.warning("the stuck member did not leave cleanly; its session expires", exc_info=True)
        self._first_uncommitted.clear()
        self._revocations.on_partitions_assigned(())
        self._consumer = self._join()

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        """Fetch up to ``max_records`` records across the assigned partitions."""
        self._rejoin_if_stuck()
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
        moved back to the first record polled since its last commit: those records are read
        again, none is skipped. A partition nothing was polled from since its commit is already
        there. No request to the broker here: the rebalance may still be in flight.
        """
        taken = self._revocations.take()
        if not taken:
            return taken
        assigned = {tp.partition: tp for tp in self._consumer.assignment()}
        for partition in taken:
            first = self._first_uncommitted.pop(partition, None)
            if first is not None and partition in assigned:
                self._consumer.seek(assigned[partition], first)
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
