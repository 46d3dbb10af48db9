"""Commands of bulk export jobs (spec §9): request one, read it, and the worker's records.

Guarantees:

* :class:`RequestExport` records exactly one ``ExportJob.Requested`` (published as
  ``export_requested``) or nothing: the tier check (``events`` needs the Events API feature,
  ``403 event_api_disabled``) and the filters' validation (``bus.deps.export_window``, the read
  side's own parsers wired by the composition root: ``400 validation_error``) come first.
* At most :data:`~event_store.aggregates.export_job.MAX_OPEN` jobs of a customer are pending
  or running: one more is ``409 too_many_exports`` and records nothing. The job and the
  customer's :class:`~event_store.aggregates.ExportQueue` are saved in one transaction, so two
  concurrent requests cannot both take the last slot (the bus retries the loser on the fresh
  queue).
* :class:`GetExport` answers a job of the asking customer only; another customer's id, or
  one that is not an export, is ``404`` like an unknown one.
* The worker's records (:class:`RecordExportProgress`, :class:`CompleteExport`,
  :class:`FailExport`) never change a final job, so they are safe to repeat; a concurrent save
  (``IntegrityError``) is retried by the bus on a freshly loaded job, except progress, which is
  advisory (a concurrent save wins).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from eventsourcing.persistence import IntegrityError

from event_store.aggregates import Customer
from event_store.aggregates import ExportJob
from event_store.aggregates import ExportQueue
from event_store.aggregates.export_job import MAX_OPEN
from event_store.errors import DomainError
from event_store.errors import NotFound

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from uuid import UUID

    from commands.bus import Bus

@dataclass(frozen=True)
class RequestExport:
    """Ask for an export of ``kind`` in ``format`` with ``filters`` (strings), requested at ``now``."""

    customer_id: UUID
    kind: str
    format: str
    filters: dict[str, str]
    now: datetime


@dataclass(frozen=True)
class GetExport:
    """One export job of the customer (``customer_id`` None: any customer's, for the worker)."""

    export_id: UUID
    customer_id: UUID | None = None


@dataclass(frozen=True)
class RecordExportProgress:
    """Rows written so far by the worker."""

    export_id: UUID
    rows_written: int
    progress_percent: int


@dataclass(frozen=True)
class CompleteExport:
    """The finished file: its rows, size, name in the exports folder and expiry."""

    export_id: UUID
    rows_written: int
    bytes_written: int
    file_name: str
    expires_at: datetime


@dataclass(frozen=True)
class FailExport:
    """The export could not be made; ``reason`` is shown to the customer."""

    export_id: UUID
    reason: str


def request_export(cmd: RequestExport, bus: Bus) -> ExportJob:
    """Check the tier and the filters, then record the pending job."""
    customer = bus.app.get(cmd.customer_id, Customer, "customer", copy=False)
    if cmd.kind == "events" and not customer.limits.get("events_api"):
        raise DomainError("event exports are part of the Events API, which your tier does not include",
                          code="event_api_disabled", status=403)
    if bus.deps.export_window is None:
        raise DomainError("exports need the statistics store", code="unavailable", status=503)
    start, end = bus.deps.export_window(cmd.kind, cmd.filters, cmd.now, customer.tier)
    queue = _queue(bus, cmd.customer_id)
    open_jobs = [export_id for export_id in queue.recent
                 if not bus.app.get(export_id, ExportJob, "export", copy=False).final]
    if len(open_jobs) >= MAX_OPEN:
        raise DomainError(f"{len(open_jobs)} of your exports are pending or running; wait for one "
                          f"to finish (GET /api/exports/{{id}}) before asking for another",
                          code="too_many_exports", status=409,
                          details={"open_exports": [str(export_id) for export_id in open_jobs]})
    job = ExportJob.request(cmd.customer_id, cmd.kind, cmd.format, cmd.filters, cmd.now, start, end)
    queue.add(job.id)
    bus.app.save(job, queue)  # a concurrent request took the queue's next version: the bus retries
    return job


def _queue(bus: Bus, customer_id: UUID) -> ExportQueue:
    try:
        return bus.app.get(ExportQueue.create_id(customer_id), ExportQueue, "export queue")
    except NotFound:
        return ExportQueue.start(customer_id)


def get_export(cmd: GetExport, bus: Bus) -> ExportJob:
    """The job, read only (a cached copy); 404 for another customer's."""
    job = bus.app.get(cmd.export_id, ExportJob, "export", copy=False)
    if cmd.customer_id is not None and job.customer_id != cmd.customer_id:
        raise NotFound("export not found")
    return job


def record_progress(cmd: RecordExportProgress, bus: Bus) -> None:
    """Append progress; a concurrent save wins (progress is advisory)."""
    job = bus.app.get(cmd.export_id, ExportJob, "export")
    job.progress(cmd.rows_written, cmd.progress_percent)
    try:
        bus.app.save(job)
    except IntegrityError:
        pass


def complete_export(cmd: CompleteExport, bus: Bus) -> ExportJob:
    """Append ``Completed`` unless the job is final; the job afterwards."""
    return _final(bus, cmd.export_id, lambda job: job.complete(
        cmd.rows_written, cmd.bytes_written, cmd.file_name, cmd.expires_at))


def fail_export(cmd: FailExport, bus: Bus) -> ExportJob:
    """Append ``Failed`` unless the job is final; the job afterwards."""
    return _final(bus, cmd.export_id, lambda job: job.fail(cmd.reason))


def _final(bus: Bus, export_id: UUID, decide: Callable[[ExportJob], None]) -> ExportJob:
    job = bus.app.get(export_id, ExportJob, "export")
    decide(job)
    bus.app.save(job)
    return job


HANDLERS: dict[type, Any] = {
    RequestExport: request_export,
    GetExport: get_export,
    RecordExportProgress: record_progress,
    CompleteExport: complete_export,
    FailExport: fail_export,
}
