"""The consumer loop: poll -> decode -> write to the sink -> commit.

Commit rule (at-least-once, arroyo style): offsets are committed only after
``sink.write`` returned and dead letters were flushed. A crash anywhere before the
commit replays the uncommitted tail; sinks are exact under redelivery (they
de-duplicate by ``event_id``/``position``), so a replay changes no number.

A record that cannot be decoded into an :class:`Envelope`, or whose ``event_type`` is
unknown, goes to the dead-letter destination with its topic, partition, offset and the
reason, and the loop goes on. A failing sink is never swallowed: the exception
propagates, nothing is committed, and the supervisor restarts the process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from dataclasses import field
from time import monotonic
from typing import TYPE_CHECKING

import orjson

from event_store.envelope import EVENT_TYPES
from event_store.envelope import Envelope
from event_store.envelope import EnvelopeError

if TYPE_CHECKING:
    from threading import Event

    from consumers.records import DeadLetters
    from consumers.records import Record
    from consumers.records import Sink
    from consumers.records import Source

log = logging.getLogger(__name__)


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

    def is_due(self, limits: Limits, now: float) -> bool:
        """True when the batch is full, or non-empty and old enough."""
        if len(self.envelopes) >= limits.max_records:
            return True
        return bool(self.next_offsets) and now - self.started >= limits.max_wait_s


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
        except EnvelopeError as exc:
            log.warning("dead letter %s[%d]@%d: %s", record.topic, record.partition,
                        record.offset, exc)
            dead_letters.send(record, str(exc))
        batch.next_offsets[record.partition] = record.offset + 1


def flush(batch: Batch, source: Source, sink: Sink, dead_letters: DeadLetters) -> Batch:
    """Write, then commit; returns a fresh batch."""
    if batch.envelopes:
        sink.write(batch.envelopes)
    dead_letters.flush()
    if batch.next_offsets:
        source.commit(batch.next_offsets)
    return Batch(monotonic())


def run(source: Source, sink: Sink, dead_letters: DeadLetters, limits: Limits, stop: Event) -> None:
    """Consume until ``stop`` is set, then flush what was polled and commit it."""
    batch = Batch(monotonic())
    while not stop.is_set():
        room = limits.max_records - len(batch.envelopes)
        add(batch, source.poll(max(room, 1), limits.poll_timeout_s), dead_letters)
        if batch.is_due(limits, monotonic()):
            batch = flush(batch, source, sink, dead_letters)
    flush(batch, source, sink, dead_letters)
