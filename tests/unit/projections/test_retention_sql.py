"""Retention decisions (pure): which monthly partitions lie wholly before the cutoff."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

import pytest

from warehouse import retention

ROWS = [("202410", 3, 1), ("202412", 1, 2), ("202509", 2, 1), ("202510", 5, 3), ("all", 9, 1),
        ("202613", 1, 1)]


def test_partitions_are_utc_months_and_foreign_ids_are_left_out() -> None:
    found = retention.partitions(ROWS)
    assert [(p.id, p.rows, p.start.isoformat(), p.end.isoformat()) for p in found] == [
        ("202410", 3, "2024-10-01T00:00:00+00:00", "2024-11-01T00:00:00+00:00"),
        ("202412", 1, "2024-12-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00"),
        ("202509", 2, "2025-09-01T00:00:00+00:00", "2025-10-01T00:00:00+00:00"),
        ("202510", 5, "2025-10-01T00:00:00+00:00", "2025-11-01T00:00:00+00:00"),
    ]


@pytest.mark.parametrize(("now", "days", "expected"), [
    (datetime(2026, 10, 31, tzinfo=UTC), 395, ["202410", "202412", "202509"]),  # cutoff = 2025-10-01
    (datetime(2026, 10, 30, 23, 59, 59, tzinfo=UTC), 395, ["202410", "202412"]),  # a second short
    (datetime(2026, 11, 26, 12, tzinfo=UTC), 365, ["202410", "202412", "202509", "202510"]),
    (datetime(2025, 11, 26, 12, tzinfo=UTC), 365, ["202410"]),
    (datetime(2025, 1, 1, tzinfo=UTC), 1, ["202410"]),
])
def test_only_months_wholly_before_the_cutoff_expire(now: datetime, days: int, expected: list[str]) -> None:
    before = retention.cutoff(now, days)
    assert [p.id for p in retention.expired(reversed(retention.partitions(ROWS)), before)] == expected


def test_drop_statement_and_guards() -> None:
    [partition] = retention.partitions([("202501", 1, 1)])
    assert retention.drop_sql("ml", partition) == "ALTER TABLE `ml`.`events` DROP PARTITION 202501"
    with pytest.raises(ValueError):
        retention.drop_sql("ml; DROP", partition)
    with pytest.raises(ValueError):
        retention.drop_sql("ml", retention.Partition("1 OR 1", 0, partition.start, partition.end))
    with pytest.raises(ValueError):
        retention.cutoff(datetime(2026, 1, 1, tzinfo=UTC), 0)
    assert retention.partitions_params("ml") == {"database": "ml", "table": "events"}
