"""The ports of the consumer loop: records, sources, sinks and dead letters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping
    from collections.abc import Sequence

    from event_store.envelope import Envelope


@dataclass(frozen=True, slots=True)
class Record:
    """One record from a source: its place (topic, partition, offset) and its bytes."""

    topic: str
    partition: int
    offset: int
    value: bytes


class Source(Protocol):
    """Where records come from: a Kafka consumer group or the in-process log."""

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        """Up to ``max_records`` records, waiting at most ``timeout_s`` for the first."""

    def commit(self, offsets: Mapping[int, int]) -> None:
        """Durably record, per partition, the offset of the next record to read."""

    def revoked(self) -> frozenset[int]:
        """Partitions taken from this member since the last call (revoked or lost in a rebalance).

        One that came back to this member in the same rebalance is read again from its last
        commit (the caller drops what it had polled of it).
        """

    def close(self) -> None:
        """Leave the group / release resources."""


class Sink(Protocol):
    """Where a batch's envelopes go; must be exact under redelivery."""

    def write(self, envelopes: Sequence[Envelope]) -> None:
        """Persist the batch or raise."""


class DeadLetters(Protocol):
    """Where undecodable records go, with their origin and the reason."""

    def send(self, record: Record, reason: str) -> None:
        """Queue one dead letter."""

    def flush(self) -> None:
        """Make every queued dead letter durable (before offsets are committed)."""
