"""Composition of the exports worker (``mailerlogic consume exports``, and a thread of run-all).

Requests come from Kafka (consumer group ``exports``) or, on the embedded default, from the
notification log; jobs are read and recorded through the command bus (``commands.exports``);
rows come from the read side (``read_api.export_jobs``: the streaming events export and the
statistics rows) over ClickHouse; files go to ``<data dir>/exports`` and expire after
``MAILERLOGIC_EXPORT_TTL_HOURS``. The guarantees are in ``consumers/exports/worker.py``.

One batch holds few requests and each runs to the end before the offsets are committed, so the
Kafka consumer may go up to :data:`MAX_RUN_MS` between polls before the group gives its
partitions to another member (which would run the job again).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from commands.exports import CompleteExport
from commands.exports import FailExport
from commands.exports import GetExport
from commands.exports import RecordExportProgress
from commands.http.exports import FOLDER
from consumers import loop
from consumers.exports import files
from consumers.exports.ports import ExportSpec
from consumers.exports.worker import ExportSink
from consumers.log_source import LogSource
from event_store.errors import NotFound
from event_store.feed import NotificationFeed
from mailerlogic.consumer_runtime import resilience
from mailerlogic.processes import ensure_topics
from mailerlogic.wiring import build_bus
from mailerlogic.wiring import build_dead_letters
from mailerlogic.wiring import build_events
from mailerlogic.wiring import clickhouse_factory
from read_api import export_jobs

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from collections.abc import Iterator
    from datetime import datetime
    from pathlib import Path
    from uuid import UUID

    from commands.bus import Bus
    from consumers.records import Source
    from event_store.application import EmailEvents
    from mailerlogic.config import Settings
    from warehouse.port import ClickHouse

log = logging.getLogger("mailerlogic.exports")
GROUP = "exports"
LIMITS = loop.Limits(max_records=64, max_wait_s=0.2, poll_timeout_s=0.2)
MAX_RUN_MS = 3_600_000


class BusExportJobs:
    """The worker's :class:`~consumers.exports.ports.ExportJobs` over the command bus."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    def load(self, export_id: UUID) -> ExportSpec | None:
        """The job as recorded, or None."""
        try:
            job = self.bus.handle(GetExport(export_id))
        except NotFound:
            return None
        return ExportSpec(job.id, job.customer_id, job.kind, job.format, dict(job.filters), job.window_start,
                          job.window_end, job.status)

    def progress(self, export_id: UUID, rows_written: int, progress_percent: int) -> None:
        """Append ``Progressed``."""
        self.bus.handle(RecordExportProgress(export_id, rows_written, progress_percent))

    def complete(self, export_id: UUID, rows_written: int, bytes_written: int, file_name: str,
                 expires_at: datetime) -> None:
        """Append ``Completed``."""
        self.bus.handle(CompleteExport(export_id, rows_written, bytes_written, file_name, expires_at))

    def fail(self, export_id: UUID, reason: str) -> None:
        """Append ``Failed``."""
        self.bus.handle(FailExport(export_id, reason))


class ReadSideExporter:
    """The worker's :class:`~consumers.exports.ports.Exporter`: the read side over ClickHouse."""

    def __init__(self, clickhouse: Callable[[], ClickHouse]) -> None:
        self.clickhouse = clickhouse

    def count(self, spec: ExportSpec) -> int:
        """Rows of the job's window."""
        return export_jobs.count(self.clickhouse(), kind=spec.kind, customer_id=spec.customer_id,
                                 filters=spec.filters, start=spec.window_start, end=spec.window_end)

    def chunks(self, spec: ExportSpec) -> Iterator[bytes]:
        """The job's file: the streaming events export, or the statistics rows."""
        return export_jobs.chunks(self.clickhouse(), kind=spec.kind, customer_id=spec.customer_id,
                                  filters=spec.filters, start=spec.window_start, end=spec.window_end,
                                  fmt=spec.format)


def exports_folder(settings: Settings) -> Path:
    """Where export files live (the API serves downloads from the same folder)."""
    return settings.data_dir / FOLDER


def build_export_sink(settings: Settings, events: EmailEvents,
                      clickhouse: Callable[[], ClickHouse]) -> ExportSink:
    """The sink with its adapters."""
    return ExportSink(BusExportJobs(build_bus(settings, events)), ReadSideExporter(clickhouse),
                      exports_folder(settings), timedelta(hours=settings.export_ttl_hours))


def sweep_job(settings: Settings, now: datetime) -> None:
    """The scheduler's daily ``exports`` job: delete expired export files."""
    deleted = files.sweep(exports_folder(settings), now)
    log.info("exports: %d expired files deleted", len(deleted))


def _source(settings: Settings, events: EmailEvents) -> Source:
    if settings.kafka_bootstrap_servers:
        from consumers.kafka_source import KafkaSource

        return KafkaSource(settings.kafka_bootstrap_servers, settings.kafka_topic,
                           settings.kafka_group(GROUP),
                           max_poll_interval_ms=MAX_RUN_MS)
    return LogSource(NotificationFeed(events), GROUP)


def run_exports(settings: Settings, stop: threading.Event, events: EmailEvents | None = None,
                clickhouse: Callable[[], ClickHouse] | None = None) -> None:
    """Make the files of requested exports until stopped."""
    if clickhouse is None and settings.clickhouse_url is None:
        raise SystemExit("the exports worker needs CLICKHOUSE_URL: on the embedded default chdb can be "
                         "opened by one process only, and `mailerlogic run-all` runs the exports worker")
    if settings.kafka_bootstrap_servers:
        ensure_topics(settings, stop)
    events = events or build_events(settings)
    sink = build_export_sink(settings, events, clickhouse or clickhouse_factory(settings))
    source = _source(settings, events)
    log.info("exports: consuming %s into %s", "kafka" if settings.kafka_bootstrap_servers else "the log",
             exports_folder(settings))
    try:
        loop.run(source, sink, build_dead_letters(settings), LIMITS, stop, resilience(settings, "exports"))
    finally:
        source.close()
