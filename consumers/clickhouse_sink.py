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
   ``event_positions``, ``stats_hourly`` and the other read models from that same insert, so a
   position is findable exactly when its event has been counted.
4. Look again for positions of the batch stored more than once and list them, with their
   customer, in ``stats_duplicates``.

Several writers of one position (a member thrown out of its group while still writing, or a
rebuild's catch-up beside the projector) can both pass step 2 and both insert. Every table stays
exact anyway: ``events`` collapses a repeated ``event_id`` (ReplacingMergeTree, read with
``FINAL``/``LIMIT 1 BY``), ``health_history`` and ``suppressions`` keep one row per key, and
``stats_hourly`` keeps each row's *set* of positions (uniqExact states), so a position stored
twice is counted once by a state merge. Step 4 tells the read side which customers need that
merge: the later of two inserts of a position is followed by its writer's check, which sees both.
A writer that dies between its insert and its check leaves the listing to the replay of its
uncommitted batch (steps 2-4 run again) or, for a writer that had lost its partitions, to
:func:`sweep_duplicates`, which the projector runs when it starts.

A failed lookup or insert raises; it is never swallowed. The consumer loop commits offsets
only after ``write`` returns, so on any crash the uncommitted tail is delivered again:
events whose insert completed are found in step 2 and skipped, the others are written.

One INSERT of up to ``max_insert_block_size`` rows (about a million; the loop's batches are far
smaller) is one block, which ClickHouse writes to the table and then to each view before
acknowledging; a failure *inside the server* between those writes (a crash, or an error in one
view) can leave a view out of step with the table, a window this sink does not cover
(non-replicated MergeTree has no multi-table transaction). A crash of the consumer at any point
is covered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from projections import events

if TYPE_CHECKING:
    from collections.abc import Iterable
    from collections.abc import Sequence

    from event_store.envelope import Envelope
    from warehouse.port import ClickHouse

# Positions closer than this share one range query: bounded ranges, few round trips.
CLUSTER_GAP = 100_000
POSITIONS_SQL = (
    "SELECT position FROM event_positions WHERE position >= %(lo)s AND position <= %(hi)s"
)
REPEATED_SQL = (
    "SELECT position FROM event_positions WHERE position >= %(lo)s AND position <= %(hi)s"
    " GROUP BY position HAVING count() > 1"
)
DUPLICATES_TABLE = "stats_duplicates"
DUPLICATES_COLUMNS = ("customer_id", "position")
SWEEP_SQL = "SELECT position FROM event_positions GROUP BY position HAVING count() > 1"
SWEEP_CUSTOMERS_SQL = "SELECT DISTINCT customer_id, position FROM events WHERE position IN %(positions)s"


class ClickHouseSink:
    """Writes envelopes to ClickHouse; satisfies ``consumers.records.Sink``."""

    def __init__(self, client: ClickHouse) -> None:
        self.client = client

    def write(self, envelopes: Sequence[Envelope]) -> None:
        """Insert the envelopes not stored yet, in one INSERT; raises on failure."""
        fresh = unique(envelopes)
        positions = sorted({e.position for e in fresh})
        stored = self.stored_positions(positions)
        rows = events.rows(e for e in fresh if e.position not in stored)
        if rows:
            self.client.insert(events.TABLE, events.COLUMNS, rows)
        repeated = self.matching(REPEATED_SQL, positions)
        if repeated:
            customers = {e.position: e.customer_id for e in fresh}
            self.client.insert(DUPLICATES_TABLE, DUPLICATES_COLUMNS,
                               [(customers[p], p) for p in sorted(repeated)])

    def stored_positions(self, positions: Sequence[int]) -> set[int]:
        """Which of the sorted ``positions`` are already in ``event_positions``."""
        return self.matching(POSITIONS_SQL, positions)

    def matching(self, sql: str, positions: Sequence[int]) -> set[int]:
        """Which of the sorted ``positions`` a range query (``lo``..``hi``) returns."""
        wanted = set(positions)
        found: set[int] = set()
        for lo, hi in clusters(positions, CLUSTER_GAP):
            rows = self.client.execute(sql, {"lo": lo, "hi": hi})
            found.update(position for (position,) in rows if position in wanted)
        return found


def sweep_duplicates(client: ClickHouse, chunk: int = 10_000) -> int:
    """List every position stored more than once in ``stats_duplicates``; returns how many.

    A full scan of ``event_positions`` (about 0.1 s per 10 M positions on the server): run when
    a projector starts, it covers a writer that died between its insert and its own check.
    """
    repeated = sorted(position for (position,) in client.execute(SWEEP_SQL))
    for first in range(0, len(repeated), chunk):
        part = repeated[first:first + chunk]
        rows = client.execute(SWEEP_CUSTOMERS_SQL, {"positions": part})
        client.insert(DUPLICATES_TABLE, DUPLICATES_COLUMNS, sorted((c, p) for c, p in rows))
    return len(repeated)


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
