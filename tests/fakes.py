"""In-memory stand-ins for unit tests only (real servers are used everywhere else)."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence

from consumers.records import Record
from event_store.envelope import Envelope


class InMemoryBroker:
    """A one-topic log with partitions and committed offsets; satisfies ``Source``."""

    def __init__(self, partitions: int = 2) -> None:
        self.logs: list[list[bytes]] = [[] for _ in range(partitions)]
        self.committed: dict[int, int] = {}
        self.positions: dict[int, int] = {}
        self.commits: list[dict[int, int]] = []
        self.taken: set[int] = set()
        self.failing_polls = 0  # the next N polls raise ConnectionError
        self.failing_commits = 0  # the next N commits raise ConnectionError
        self.on_poll: list[object] = []  # callables run at the start of each poll

    def produce(self, partition: int, value: bytes) -> None:
        """Append a record."""
        self.logs[partition].append(value)

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        """Records after each partition's read position."""
        for hook in list(self.on_poll):
            hook()  # type: ignore[operator]
        if self.failing_polls:
            self.failing_polls -= 1
            raise ConnectionError("broker down")
        out: list[Record] = []
        for partition, log in enumerate(self.logs):
            start = self.positions.get(partition, self.committed.get(partition, 0))
            for offset in range(start, len(log)):
                if len(out) >= max_records:
                    return out
                out.append(Record("events", partition, offset, log[offset]))
                self.positions[partition] = offset + 1
        return out

    def commit(self, offsets: Mapping[int, int]) -> None:
        """Record committed offsets."""
        if self.failing_commits:
            self.failing_commits -= 1
            raise ConnectionError("broker down")
        self.committed.update(offsets)
        self.commits.append(dict(offsets))

    def rebalance(self, partitions: set[int]) -> None:
        """A rebalance takes ``partitions`` and gives them back, as an eager one does; like the
        Kafka client, the fetch position is kept until :meth:`revoked` is asked."""
        self.taken |= partitions

    def revoked(self) -> frozenset[int]:
        """Partitions taken since the last call; as ``KafkaSource``, those given back are read
        again from their committed offsets."""
        taken, self.taken = frozenset(self.taken), set()
        for partition in taken:
            self.positions.pop(partition, None)
        return taken

    def restart(self) -> None:
        """A new consumer: reading resumes from the committed offsets."""
        self.positions = {}

    def close(self) -> None:
        """Nothing to release."""


class RecordingSink:
    """Remembers every batch; can be told to fail."""

    def __init__(self) -> None:
        self.batches: list[list[Envelope]] = []
        self.fail = False
        self.failing_writes = 0  # the next N writes raise ConnectionError

    def write(self, envelopes: Sequence[Envelope]) -> None:
        """Record the batch, or raise when told to fail."""
        if self.fail:
            raise RuntimeError("sink down")
        if self.failing_writes:
            self.failing_writes -= 1
            raise ConnectionError("sink unreachable")
        self.batches.append(list(envelopes))


class ListDeadLetters:
    """Collects dead letters."""

    def __init__(self) -> None:
        self.pending: list[tuple[Record, str]] = []
        self.flushed: list[tuple[Record, str]] = []

    def send(self, record: Record, reason: str) -> None:
        """Queue one."""
        self.pending.append((record, reason))

    def flush(self) -> None:
        """Move queued to flushed."""
        self.flushed += self.pending
        self.pending = []
