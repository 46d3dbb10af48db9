"""The consumer loop: poll -> decode -> write to the sink -> commit.

Commit rule (at-least-once, arroyo style): offsets are committed only after
``sink.write`` returned and dead letters were flushed. A crash anywhere before the
commit replays the uncommitted tail; sinks are exact under redelivery (they
de-duplicate by ``event_id``/``position``), so a replay changes no number.

Rebalances: a partition taken away from this member (revoked, or lost with the group
membership) may be read by its new owner at once, so the records of it polled into the
open batch are dropped, never written, and its offset is not committed: the new owner
reads them again from the last commit. (kafka-python runs the rebalance listener inside
``poll``, when no write is in flight; a member that is frozen long enough to be thrown out
of the group can still write a stale batch, which is why the sinks are exact with several
writers of one position too.)

Transient failures (a ClickHouse, Kafka, SMTP or event-store outage, as the composition
root's ``Resilience.transient`` judges them) never end the process: a failed poll is
retried; a failed write is retried **with the same batch** with capped exponential backoff
until it succeeds or the loop is stopped, and nothing is committed meanwhile; a failed
commit is carried over to the next one (a later commit of the same partition covers it).
While failing, ``health.degraded(reason)`` is reported; the first success after that
reports ``health.recovered()``. Any other failure is never swallowed: it propagates,
nothing is committed, and the supervisor restarts the process.

A record that cannot be decoded into an :class:`Envelope`, or whose ``event_type`` is
unknown, goes to the dead-letter destination with its topic, partition, offset and the
reason, and the loop goes on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from dataclasses import field
from time import monotonic
from time import sleep
from typing import TYPE_CHECKING
from typing import Protocol
from typing import TypeVar

import orjson

from event_store.envelope import EVENT_TYPES
from event_store.envelope import Envelope
from event_store.envelope import EnvelopeError

if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterable
    from threading import Event

    from consumers.records import DeadLetters
    from consumers.records import Record
    from consumers.records import Sink
    from consumers.records import Source

log = logging.getLogger(__name__)
T = TypeVar("T")


class Health(Protocol):
    """Where a consumer reports that it is failing and retrying, and when it is well again."""

    def degraded(self, reason: str) -> None:
        """A transient failure is being retried."""

    def recovered(self) -> None:
        """The dependency answers again."""


class NoHealth:
    """Reports nowhere."""

    def degraded(self, reason: str) -> None:
        """Nothing to report to."""

    def recovered(self) -> None:
        """Nothing to report to."""


def never(_exc: BaseException) -> bool:
    """No failure is transient: every one propagates (the default)."""
    return False


@dataclass(frozen=True)
class Resilience:
    """Which failures are retried in the process, how fast, and where that is reported.

    ``transient`` judges an exception (the composition root knows the client libraries'
    error types); the delay before attempt n+1 is ``min(first_s * factor**n, max_s)``.
    ``final_attempts`` bounds the retries of the last flush once the loop is stopping.
    """

    transient: Callable[[BaseException], bool] = never
    health: Health = field(default_factory=NoHealth)
    first_s: float = 0.2
    factor: float = 2.0
    max_s: float = 5.0
    final_attempts: int = 3

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the ``attempt``-th failure in a row (0-based)."""
        return float(min(self.first_s * self.factor ** min(attempt, 32), self.max_s))


class Stopped(Exception):
    """The loop was stopped while an action was still failing (nothing was committed)."""


@dataclass(frozen=True)
class Limits:
    """When a batch is flushed: at ``max_records`` or ``max_wait_s`` after its first record."""

    max_records: int = 20_000
    max_wait_s: float = 0.5
    poll_timeout_s: float = 0.1


@dataclass
class Batch:
    """Envelopes decoded so far and, per partition, the next offset to commit."""

    started: float
    envelopes: list[Envelope] = field(default_factory=list)
    next_offsets: dict[int, int] = field(default_factory=dict)

    partitions: list[int] = field(default_factory=list)  # of each envelope, in order

    def is_due(self, limits: Limits, now: float) -> bool:
        """True when the batch is full, or non-empty and old enough."""
        if len(self.envelopes) >= limits.max_records:
            return True
        return bool(self.next_offsets) and now - self.started >= limits.max_wait_s

    def drop(self, partitions: Iterable[int]) -> int:
        """Forget the records and offsets of ``partitions``; returns how many envelopes went."""
        gone = set(partitions) & (set(self.partitions) | set(self.next_offsets))
        if not gone:
            return 0
        kept = [(e, p) for e, p in zip(self.envelopes, self.partitions, strict=True) if p not in gone]
        dropped = len(self.envelopes) - len(kept)
        self.envelopes = [e for e, _ in kept]
        self.partitions = [p for _, p in kept]
        for partition in gone:
            self.next_offsets.pop(partition, None)
        return dropped


def decode(record: Record) -> Envelope:
    """Decode a record; raises :class:`EnvelopeError` for undecodable or unknown ones."""
    try:
        data = orjson.loads(record.value)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError(f"not JSON: {exc}") from None
    envelope = Envelope.from_dict(data)
    if envelope.event_type not in EVENT_TYPES:
        raise EnvelopeError(f"unknown event_type {envelope.event_type!r}")
    return envelope


def add(batch: Batch, records: list[Record], dead_letters: DeadLetters) -> None:
    """Decode records into the batch; dead-letter what cannot be decoded."""
    for record in records:
        try:
            batch.envelopes.append(decode(record))
            batch.partitions.append(record.partition)
        except EnvelopeError as exc:
            log.warning("dead letter %s[%d]@%d: %s", record.topic, record.partition,
                        record.offset, exc)
            dead_letters.send(record, str(exc))
        batch.next_offsets[record.partition] = record.offset + 1


def flush(batch: Batch, source: Source, sink: Sink, dead_letters: DeadLetters,
          resilience: Resilience | None = None, stop: Event | None = None) -> Batch:
    """Write, then commit; returns a fresh batch (holding any offsets still to commit).

    Raises :class:`Stopped` when ``stop`` is set while the write keeps failing transiently.
    """
    guard = resilience or Resilience()
    if batch.envelopes:
        attempt(guard, stop, "sink write", lambda: sink.write(batch.envelopes))
    attempt(guard, stop, "dead-letter flush", dead_letters.flush)
    fresh = Batch(monotonic())
    if batch.next_offsets:
        try:
            source.commit(batch.next_offsets)
        except Exception as exc:
            if not guard.transient(exc):
                raise
            # Not committing is safe (a replay is counted once); the next commit carries it.
            log.warning("commit failed (%s); offsets carried over to the next commit", exc)
            guard.health.degraded(f"commit: {exc}")
            fresh.next_offsets = dict(batch.next_offsets)
    return fresh


def attempt(resilience: Resilience, stop: Event | None, what: str, action: Callable[[], T]) -> T:
    """Run ``action``, retrying transient failures with backoff until it succeeds or ``stop``.

    Once ``stop`` is set only ``final_attempts`` more are made, then :class:`Stopped` is raised.
    """
    failures = 0
    while True:
        try:
            result = action()
        except Exception as exc:
            if not resilience.transient(exc):
                raise
            if stop is None:
                raise
            stopping = stop.is_set()
            if stopping and failures + 1 >= resilience.final_attempts:
                raise Stopped(f"{what} still failing when stopped: {exc}") from exc
            delay = resilience.delay(failures)
            log.warning("%s failed (%s: %s); retrying in %.1fs", what, type(exc).__name__, exc, delay)
            resilience.health.degraded(f"{what}: {type(exc).__name__}: {exc}")
            failures += 1
            if stopping:
                sleep(delay)
            else:
                stop.wait(delay)
            continue
        if failures:
            log.info("%s succeeded after %d failed attempts", what, failures)
            resilience.health.recovered()
        return result


def run(source: Source, sink: Sink, dead_letters: DeadLetters, limits: Limits, stop: Event,
        resilience: Resilience | None = None) -> None:
    """Consume until ``stop`` is set, then flush what was polled and commit it."""
    guard = resilience or Resilience()
    batch = Batch(monotonic())
    try:
        while not stop.is_set():
            room = max(limits.max_records - len(batch.envelopes), 1)
            records = attempt(guard, stop, "poll",
                              lambda room=room: source.poll(room, limits.poll_timeout_s))  # type: ignore[misc]
            add(batch, forget_revoked(batch, source, records), dead_letters)
            if batch.is_due(limits, monotonic()):
                batch = flush(batch, source, sink, dead_letters, guard, stop)
        forget_revoked(batch, source, [])
        flush(batch, source, sink, dead_letters, guard, stop)
    except Stopped as exc:
        log.warning("stopped with work unwritten (it is replayed on restart): %s", exc)


def forget_revoked(batch: Batch, source: Source, records: list[Record]) -> list[Record]:
    """Drop from the batch, and from the records just polled, what belongs to revoked partitions.

    A revoked partition may have come back to this member in the same rebalance: the source
    then reads it again from its last commit, so nothing dropped here is skipped.
    """
    revoked = source.revoked()
    if not revoked:
        return records
    kept = [record for record in records if record.partition not in revoked]
    dropped = batch.drop(revoked) + len(records) - len(kept)
    log.info("partitions %s revoked: %d polled records dropped (read again by their owner)",
             sorted(revoked), dropped)
    return kept
