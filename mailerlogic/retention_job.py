"""Event-data retention: drop the monthly ``events`` partitions older than every retention.

The longest retention in force is the larger of ``MAILERLOGIC_RETENTION_DAYS`` (starter and
professional, default 90) and ``MAILERLOGIC_ENTERPRISE_RETENTION_DAYS`` (default 365): the
``events`` table is shared by all customers, so a partition goes only when no tier may still
read it. Aggregates (statistics, health history, the unsubscribe list) are kept. Shorter
per-tier windows are for the read side to apply. Idempotent: a second run finds nothing.

Runs as the scheduler's daily ``retention`` job and as ``mailerlogic retention [--dry-run]``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from warehouse import retention
from warehouse.schema import current_database

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from mailerlogic.config import Settings
    from warehouse.port import ClickHouse

log = logging.getLogger("mailerlogic.retention_job")


@dataclass(frozen=True)
class RetentionRun:
    """What one run found: the partitions dropped (or, on a dry run, to drop) and kept."""

    retention_days: int
    cutoff: datetime
    dropped: list[retention.Partition]
    kept: list[retention.Partition]
    dry_run: bool


def longest_retention_days(settings: Settings) -> int:
    """The longest event retention of any tier, in days."""
    return max(settings.retention_days, settings.enterprise_retention_days)


def drop_expired(client: ClickHouse, settings: Settings, now: datetime, *,
                 dry_run: bool = False) -> RetentionRun:
    """Drop (unless ``dry_run``) every ``events`` partition wholly before the cutoff."""
    database = current_database(client)
    days = longest_retention_days(settings)
    before = retention.cutoff(now, days)
    found = retention.partitions(client.execute(retention.PARTITIONS_SQL,
                                                retention.partitions_params(database)))
    expired = retention.expired(found, before)
    for partition in expired:
        if not dry_run:
            client.execute(retention.drop_sql(database, partition))
        log.info("retention: %s events partition %s (%d rows, before %s)",
                 "would drop" if dry_run else "dropped", partition.id, partition.rows,
                 before.strftime("%Y-%m-%dT%H:%M:%SZ"))
    kept = [p for p in found if p not in expired]
    log.info("retention: %d partitions %s, %d kept (%d days)", len(expired),
             "to drop" if dry_run else "dropped", len(kept), days)
    return RetentionRun(days, before, expired, kept, dry_run)


def report_lines(run: RetentionRun) -> list[str]:
    """Human-readable lines: one per partition dropped (or to drop), then a summary."""
    verb = "would drop" if run.dry_run else "dropped"
    lines = [f"{verb} events partition {p.id} ({p.rows} rows)" for p in run.dropped]
    lines.append(f"{len(run.dropped)} partitions {'to drop' if run.dry_run else 'dropped'}, "
                 f"{len(run.kept)} kept (cutoff {run.cutoff:%Y-%m-%dT%H:%M:%SZ}, "
                 f"{run.retention_days} days); statistics and other aggregates are kept")
    return lines


def daily_job(clickhouse: Callable[[], ClickHouse]) -> Callable[[Settings, datetime], None]:
    """The scheduler's ``retention`` job over the process's ClickHouse client getter."""

    def job(settings: Settings, now: datetime) -> None:
        drop_expired(clickhouse(), settings, now)

    return job
