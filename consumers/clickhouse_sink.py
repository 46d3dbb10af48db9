"""The ClickHouse sink: writes a batch of envelopes into ``events`` exactly once.

Contract — exact under redelivery: writing any batch any number of times, whole or
overlapping other batches, leaves every table (and so every number of the read API) as if
each event had been written once.

How, per :meth:`ClickHouseSink.write`:

1. De-duplicate the batch by ``event_id``, keeping the first occurrence.
2. Look up which of its notification-log positions are already stored, in
   ``event_positions`` (one small range query per cluster of nearby positions), and drop
   those envelopes.
3. Insert the rest with **one** ``INSERT INTO events``. The materialized views fill
   ``event_positions`` and ``stats_hourly`` from that same insert, so a position is findable
   exactly when its event has been counted.

A failed lookup or insert raises; it is never swallowed. The consumer loop commits offsets
only after ``write`` returns, so on any crash the uncommitted tail is delivered again:
events whose insert completed are found in step 2 and skipped, the others are written.
(A duplicate that slipped through would collapse in ``events``, a ``ReplacingMergeTree``,
but would be counted twice in ``stats_hourly``: step 2 is what keeps the numbers exact.)

Assumptions: a position is written by one sink at a time (a Kafka partition has one owner in
its group; two sinks racing on the same positions could both insert). One INSERT of up to
``max_insert_block_size`` rows (about a million; the loop's batches are far smaller) is one
block, which ClickHouse writes to the table and then to each view before acknowledging; a
failure *inside the server* between those writes (a crash, or an error in one view) can
leave a view out of step with the table, a window this sink does not cover (non-replicated
MergeTree has no multi-table transaction). A crash of the consumer at any point is covered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from projections import events

if TYPE_CHECKING:
    from collections.abc import Iterable
    from collections.abc import Sequence

    from event_store.envelope import Envelope
    from projections import ClickHouse

# Positions closer than this share one range query: bounded ranges, few round trips.
CLUSTER_GAP = 100_000
POSITIONS_SQL = (
    "SELECT position FROM event_positions WHERE position >= %(lo)s AND position <= %(hi)s"
)


class ClickHouseSink:
    """Writes envelopes to ClickHouse; satisfies ``consumers.records.Sink``."""

    def __init__(self, client: ClickHouse) -> None:
        self.client = client

    def write(self, envelopes: Sequence[Envelope]) -> None:
        """Insert the envelopes not stored yet, in one INSERT; raises on failure."""
        fresh = unique(envelopes)
        stored = self.stored_positions(sorted({e.position for e in fresh}))
        rows = events.rows(e for e in fresh if e.position not in stored)
        if rows:
            self.client.insert(events.TABLE, events.COLUMNS, rows)

    def stored_positions(self, positions: Sequence[int]) -> set[int]:
        """Which of the sorted ``positions`` are already in ``event_positions``."""
        wanted = set(positions)
        found: set[int] = set()
        for lo, hi in clusters(positions, CLUSTER_GAP):
            rows = self.client.execute(POSITIONS_SQL, {"lo": lo, "hi": hi})
            found.update(position for (position,) in rows if position in wanted)
        return found


def unique(envelopes: Iterable[Envelope]) -> list[Envelope]:
    """The envelopes with the first occurrence of each ``event_id``, in order."""
    seen: set[object] = set()
    kept: list[Envelope] = []
    for envelope in envelopes:
        if envelope.event_id not in seen:
            seen.add(envelope.event_id)
            kept.append(envelope)
    return kept


def clusters(positions: Sequence[int], gap: int) -> list[tuple[int, int]]:
    """``(lo, hi)`` ranges covering sorted ``positions``; a new range starts at a gap >= ``gap``."""
    ranges: list[tuple[int, int]] = []
    for position in positions:
        if ranges and position - ranges[-1][1] < gap:
            ranges[-1] = (ranges[-1][0], position)
        else:
            ranges.append((position, position))
    return ranges
