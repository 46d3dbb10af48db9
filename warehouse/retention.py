"""Retention of raw event data by dropping whole monthly partitions (no TTL: 18.16 lacks it).

Pure: SQL text and decisions, no I/O. ``events`` is ``PARTITION BY toYYYYMM(occurred_at)``,
so partition ``YYYYMM`` holds exactly the events of that UTC month. A partition is expired
when its month ends at or before the cutoff (``now`` minus the longest retention in force):
every row in it is older than every customer's retention, so dropping it never removes an
event some customer may still read. The aggregates (``stats_hourly``, ``health_history``,
``suppressions``, ``event_positions``) are separate tables and are never touched.
``ALTER TABLE ... DROP PARTITION`` and ``system.parts`` behave the same on 18.16 and chdb;
dropping a partition that is already gone is a no-op, so a repeated run is harmless.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any

from warehouse.schema import quote

if TYPE_CHECKING:
    from collections.abc import Iterable
    from collections.abc import Sequence

TABLE = "events"
_MONTH = re.compile(r"^([0-9]{4})(0[1-9]|1[0-2])$")

# One row per partition of the table's active parts: id, rows (before de-duplication), parts.
PARTITIONS_SQL = """
SELECT partition_id, sum(rows), count()
FROM system.parts
WHERE database = %(database)s AND table = %(table)s AND active
GROUP BY partition_id
ORDER BY partition_id
"""


@dataclass(frozen=True)
class Partition:
    """One monthly partition: events with ``start <= occurred_at < end`` (UTC)."""

    id: str
    rows: int
    start: datetime
    end: datetime


def partitions_params(database: str, table: str = TABLE) -> dict[str, Any]:
    """The parameters of :data:`PARTITIONS_SQL`."""
    return {"database": database, "table": table}


def partitions(rows: Iterable[Sequence[Any]]) -> list[Partition]:
    """The monthly partitions among :data:`PARTITIONS_SQL` rows; other ids are left out (kept)."""
    found = []
    for partition_id, count, _parts in rows:
        match = _MONTH.match(str(partition_id))
        if match is None:
            continue  # not a YYYYMM partition: never dropped by this rule
        year, month = int(match.group(1)), int(match.group(2))
        start = datetime(year, month, 1, tzinfo=UTC)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        found.append(Partition(str(partition_id), int(count), start, end))
    return found


def cutoff(now: datetime, days: int) -> datetime:
    """The instant before which no event is kept: ``now`` minus ``days``."""
    if days < 1:
        raise ValueError(f"retention must be at least one day, not {days}")
    return now.astimezone(UTC) - timedelta(days=days)


def expired(found: Iterable[Partition], before: datetime) -> list[Partition]:
    """The partitions whose whole month lies before ``before``, oldest first."""
    return sorted((p for p in found if p.end <= before), key=lambda p: p.start)


def drop_sql(database: str, partition: Partition, table: str = TABLE) -> str:
    """``ALTER TABLE db.table DROP PARTITION YYYYMM`` for one monthly partition."""
    if _MONTH.match(partition.id) is None:
        raise ValueError(f"not a monthly partition id: {partition.id!r}")
    return f"ALTER TABLE {quote(database)}.{quote(table)} DROP PARTITION {int(partition.id)}"
