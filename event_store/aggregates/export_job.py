"""ExportJob: one asynchronous bulk export of a customer's events or statistics (spec §9).

The job is event-sourced, so its status is the write side's own state (immediately consistent):

* :class:`ExportJob.Requested` fixes everything the export depends on: the customer, the kind
  (``events`` | ``stats``), the file format (``csv`` | ``ndjson``), the validated filters as
  given, and the window ``[window_start, window_end)`` decided at request time, so the file is
  a snapshot of that moment however late the worker runs it. It is the only event published
  (as ``export_requested``): the exports worker runs the job when it reads it.
* :class:`ExportJob.Progressed` records rows written so far (the worker throttles them).
* :class:`ExportJob.Completed` and :class:`ExportJob.Failed` are final: nothing is recorded on
  a final job, so a redelivered request, or a second worker, never changes it again.

Status: ``pending`` (requested), ``running`` (progress recorded), ``completed``, ``failed``,
and ``expired`` — a completed job read at or after its ``expires_at`` (see :meth:`status_at`).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID
from uuid import uuid4

from eventsourcing.domain import Aggregate
from eventsourcing.domain import event

from event_store.aggregates.per_customer import PerCustomer

KINDS = ("events", "stats")
FORMATS = ("csv", "ndjson")
FINAL = frozenset({"completed", "failed"})
MAX_OPEN = 5  # exports a customer may have pending or running at once
RECENT = 20  # requests an ExportQueue remembers (more than MAX_OPEN: finished ones pass through)


class ExportJob(Aggregate):
    """One export job; its id is the ``export_id`` the API shows."""

    class Requested(Aggregate.Created):
        customer_id: UUID
        kind: str
        format: str
        filters: dict[str, str]
        occurred_at: datetime  # the request time (the envelope's occurred_at)
        window_start: datetime
        window_end: datetime

    class Progressed(Aggregate.Event):
        rows_written: int
        progress_percent: int

    class Completed(Aggregate.Event):
        rows_written: int
        bytes_written: int
        file_name: str
        expires_at: datetime

    class Failed(Aggregate.Event):
        reason: str

    @classmethod
    def request(cls, customer_id: UUID, kind: str, format: str, filters: dict[str, str],
                requested_at: datetime, window_start: datetime, window_end: datetime) -> ExportJob:
        """A new pending job with a fresh id."""
        if kind not in KINDS or format not in FORMATS:
            raise ValueError(f"unknown export {kind!r}/{format!r}")
        return cls._create(cls.Requested, id=uuid4(), customer_id=customer_id, kind=kind, format=format,
                           filters=dict(filters), occurred_at=requested_at, window_start=window_start,
                           window_end=window_end)

    @event(Requested)
    def __init__(self, customer_id: UUID, kind: str, format: str, filters: dict[str, str],
                 occurred_at: datetime, window_start: datetime, window_end: datetime) -> None:
        self.customer_id, self.kind, self.format = customer_id, kind, format
        self.filters = filters
        self.requested_at, self.window_start, self.window_end = occurred_at, window_start, window_end
        self.status = "pending"
        self.rows_written = 0
        self.progress_percent = 0
        self.bytes_written = 0
        self.file_name: str | None = None
        self.expires_at: datetime | None = None
        self.error: str | None = None

    @property
    def final(self) -> bool:
        """Completed or failed: nothing more is recorded."""
        return self.status in FINAL

    def status_at(self, now: datetime) -> str:
        """The status shown at ``now``: a completed job past its ``expires_at`` is ``expired``."""
        if self.status == "completed" and self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return self.status

    def progress(self, rows_written: int, progress_percent: int) -> None:
        """Record progress of a job that is not final (a final job ignores it)."""
        if not self.final:
            self._progressed(rows_written=rows_written, progress_percent=max(0, min(99, progress_percent)))

    def complete(self, rows_written: int, bytes_written: int, file_name: str, expires_at: datetime) -> None:
        """Record the finished file, unless the job is already final."""
        if not self.final:
            self._completed(rows_written=rows_written, bytes_written=bytes_written, file_name=file_name,
                            expires_at=expires_at)

    def fail(self, reason: str) -> None:
        """Record why the export could not be made, unless the job is already final."""
        if not self.final:
            self._failed(reason=reason[:500])

    @event(Progressed)
    def _progressed(self, rows_written: int, progress_percent: int) -> None:
        self.status, self.rows_written, self.progress_percent = "running", rows_written, progress_percent

    @event(Completed)
    def _completed(self, rows_written: int, bytes_written: int, file_name: str, expires_at: datetime) -> None:
        self.status, self.rows_written, self.progress_percent = "completed", rows_written, 100
        self.bytes_written, self.file_name, self.expires_at = bytes_written, file_name, expires_at

    @event(Failed)
    def _failed(self, reason: str) -> None:
        self.status, self.error = "failed", reason


class ExportQueue(PerCustomer, Aggregate):
    """The export requests of one customer, newest last, so a request can count the open ones.

    Only the last :data:`RECENT` ids are kept: with at most :data:`MAX_OPEN` open at any time,
    a job still open after ``RECENT`` newer requests (a stalled worker) stops being counted.
    Internal: nothing of it is published.
    """

    PATH = "export-queues"

    class Started(Aggregate.Created):
        customer_id: UUID

    class Added(Aggregate.Event):
        export_id: UUID

    @event(Started)
    def __init__(self, customer_id: UUID) -> None:
        self.customer_id = customer_id
        self.recent: list[UUID] = []

    def add(self, export_id: UUID) -> None:
        """Remember one more request."""
        self._added(export_id=export_id)

    @event(Added)
    def _added(self, export_id: UUID) -> None:
        self.recent = [*self.recent, export_id][-RECENT:]
