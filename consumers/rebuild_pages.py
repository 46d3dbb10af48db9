"""Paging helpers of :mod:`consumers.rebuild`: copy log pages into a table, report progress,
drop expired partitions. See that module for the contract."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Protocol

from consumers.clickhouse_sink import DUPLICATES_COLUMNS
from consumers.clickhouse_sink import DUPLICATES_TABLE
from consumers.clickhouse_sink import ClickHouseSink
from projections import events
from warehouse import retention

if TYPE_CHECKING:
    from collections import deque
    from collections.abc import Sequence
    from datetime import datetime

    from consumers.log_source import PageLike
    from event_store.envelope import Envelope
    from warehouse.port import ClickHouse


@dataclass(frozen=True)
class Step:
    """Progress: in ``phase``, read from ``start`` up to ``position`` of ``head``; rows written."""

    phase: str
    position: int
    head: int
    written: int
    start: int = 0


Progress = Callable[[Step], None]
_POSITION, _CUSTOMER = events.COLUMNS.index("position"), events.COLUMNS.index("customer_id")
Write = Callable[["Sequence[Envelope]"], int]


class Log(Protocol):
    """The notification log (``event_store.feed.NotificationFeed`` satisfies it)."""

    def read(self, after: int, limit: int) -> PageLike:
        """Envelopes after a position."""

    def head(self) -> int:
        """The newest position."""


def copy(log_: Log, page_size: int, after: int, until: int, written: int, write: Write,
         told: Callable[[int, int], None]) -> int:
    """Write the envelopes of positions ``(after, until]``, a page at a time; rows written."""
    while after < until:
        page = log_.read(after, min(page_size, until - after))
        if page.last_position <= after:
            break  # nothing visible up to ``until``: never loop forever
        written += write([e for e in page.envelopes if e.position <= until])
        after = page.last_position
        told(after, written)
    return written


def writer(client: ClickHouse, table: str, tail: deque[int] | None = None, *, listed: bool = False,
            database: str = "") -> Write:
    """One INSERT per page into ``table``; optionally remember positions, list them as duplicates."""

    def write(found: Sequence[Envelope]) -> int:
        rows = events.rows(found)
        client.insert(table, events.COLUMNS, rows)
        if tail is not None:
            tail.extend(row[_POSITION] for row in rows)
        if listed and rows:
            client.insert(f"{database}.{DUPLICATES_TABLE}", DUPLICATES_COLUMNS,
                          [(row[_CUSTOMER], row[_POSITION]) for row in rows])
        return len(rows)

    return write


def sunk(sink: ClickHouseSink, found: Sequence[Envelope]) -> int:
    sink.write(found)
    return len(found)


def teller(progress: Progress | None, phase: str, head: int,
           start: int = 0) -> Callable[[int, int], None]:
    """A ``copy`` callback reporting :class:`Step` s of ``phase`` to ``progress``."""

    def told(position: int, written: int) -> None:
        if progress is not None:
            progress(Step(phase, position, head, written, start))

    return told


def drop_expired(client: ClickHouse, database: str, cutoff: datetime | None) -> tuple[str, ...]:
    """Drop the monthly ``events`` partitions of ``database`` wholly before ``cutoff``."""
    if cutoff is None:
        return ()
    found = retention.partitions(client.execute(retention.PARTITIONS_SQL,
                                                retention.partitions_params(database)))
    expired = retention.expired(found, cutoff)
    for partition in expired:
        client.execute(retention.drop_sql(database, partition))
    return tuple(p.id for p in expired)
