"""The exports worker: a consumer-loop sink that makes the file of each requested export.

Guarantees (spec §9):

* **Offsets are committed only after the job is final.** :meth:`ExportSink.write` returns once
  every ``export_requested`` job of the batch is durably ``Completed`` or ``Failed`` (or was
  already); the loop commits after ``write`` returns. A crash anywhere before that (mid-file,
  or between the renamed file and ``Completed``) leaves the request uncommitted: it is
  delivered again and the job runs again from the start, writing a fresh part file.
* **Redelivery runs nothing twice.** A job that is already completed or failed is skipped, so
  a redelivered request (or one read by a second worker after the first finished) changes
  nothing. Two workers running one job at once (a Kafka rebalance mid-export) each write a
  part of their own; the first ``Completed`` wins and later records are ignored.
* **A file is whole or absent** (``files.publish``): written to a part, fsynced, renamed. A
  stream that ends with fewer rows than were counted (a server failing mid-stream can only end
  the body) fails the job rather than publish a short file.
* **A failing export is recorded, a failing store is not swallowed.** An error of the exporter
  (ClickHouse) or of the file system appends ``Failed`` with a plain reason (details are
  logged); an error of the event store propagates, so nothing is committed and the process
  exits for its supervisor to restart it.

Progress: the rows are counted first (``Exporter.count``), then ``Progressed`` is recorded as
the bytes go by (``counting.ProgressThrottle``: at most every 2 s unless 5 points moved).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar
from uuid import UUID

from consumers.exports import files
from consumers.exports.counting import ProgressThrottle
from consumers.exports.counting import RowCounter
from consumers.exports.ports import FINAL

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import timedelta
    from pathlib import Path
    from typing import BinaryIO

    from consumers.exports.ports import Exporter
    from consumers.exports.ports import ExportJobs
    from consumers.exports.ports import ExportSpec
    from event_store.envelope import Envelope

log = logging.getLogger(__name__)
T = TypeVar("T")
REQUESTED = "export_requested"


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class ExportFailed(Exception):
    """The export could not be made; ``reason`` is what the customer is shown."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def requested_ids(envelopes: Sequence[Envelope]) -> list[UUID]:
    """The export ids requested in a batch, once each, in order (malformed ones are logged)."""
    ids: dict[UUID, None] = {}
    for envelope in envelopes:
        if envelope.event_type != REQUESTED:
            continue
        try:
            ids[UUID(str(envelope.payload["export_id"]))] = None
        except (KeyError, ValueError):
            log.warning("export_requested %s without a valid export_id: skipped", envelope.event_id)
    return list(ids)


class ExportSink:
    """A :class:`~consumers.records.Sink` running the export jobs requested in each batch."""

    def __init__(self, jobs: ExportJobs, exporter: Exporter, folder: Path, ttl: timedelta, *,
                 clock: Callable[[], datetime] = utc_now,
                 timer: Callable[[], float] = time.monotonic) -> None:
        self.jobs, self.exporter, self.folder, self.ttl = jobs, exporter, folder, ttl
        self.clock, self.timer = clock, timer

    def write(self, envelopes: Sequence[Envelope]) -> None:
        """Run every requested job to a final state; then delete expired files."""
        ran = [self.run(export_id) for export_id in requested_ids(envelopes)]
        if ran:
            files.sweep(self.folder, self.clock())

    def run(self, export_id: UUID) -> str:
        """Make one job's file unless the job is final; its status afterwards."""
        spec = self.jobs.load(export_id)
        if spec is None:
            log.warning("export %s is not in the event store: skipped", export_id)
            return "missing"
        if spec.status in FINAL:
            return spec.status
        started = self.timer()
        try:
            rows, size, expires_at = self._make(spec)
        except ExportFailed as failed:
            self.jobs.fail(export_id, failed.reason)
            log.info("export %s failed: %s", export_id, failed.reason)
            return "failed"
        self.jobs.complete(export_id, rows, size, spec.file_name, expires_at)
        log.info("export %s (%s %s): %d rows, %d bytes in %.1f s", export_id, spec.kind, spec.format, rows,
                 size, self.timer() - started)
        return "completed"

    def _make(self, spec: ExportSpec) -> tuple[int, int, datetime]:
        total = _guarded(self.exporter.count, spec)
        self.jobs.progress(spec.export_id, 0, 0)  # running
        part = _guarded(files.part_path, self.folder, spec.file_name)
        out = _guarded(files.open_part, part)
        published = False
        try:
            rows, size = self._write(spec, out, total)
            expires_at = self.clock() + self.ttl
            _guarded(files.publish, part, out, spec.file_name, expires_at)
            published = True
        finally:
            if not published:
                out.close()
                files.discard(part)
        return rows, size, expires_at

    def _write(self, spec: ExportSpec, out: BinaryIO, total: int) -> tuple[int, int]:
        counter, throttle, size = RowCounter(spec.format), ProgressThrottle(total, self.timer()), 0
        chunks = _guarded(lambda: iter(self.exporter.chunks(spec)))
        while (chunk := _guarded(next, chunks, None)) is not None:
            _guarded(out.write, chunk)
            size += len(chunk)
            percent = throttle.due(counter.feed(chunk), self.timer())
            if percent is not None:
                self.jobs.progress(spec.export_id, counter.rows, percent)
        if counter.rows < total:  # the window is in the past: rows only ever arrive, never go
            raise ExportFailed(f"the export ended after {counter.rows} of {total} rows; request it again")
        return counter.rows, size


def _guarded(action: Callable[..., T], *args: Any) -> T:
    """``action(*args)``; any error becomes :class:`ExportFailed` with a plain reason."""
    try:
        return action(*args)
    except ExportFailed:
        raise
    except OSError as exc:
        log.exception("export file error")
        raise ExportFailed(f"the export file could not be written ({exc.strerror or exc})") from exc
    except Exception as exc:
        log.exception("export query error")
        raise ExportFailed("the export query failed; request the export again") from exc
