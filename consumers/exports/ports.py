"""The ports of the exports worker: where jobs are kept, and what makes a job's bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator
    from collections.abc import Mapping
    from datetime import datetime
    from uuid import UUID

FINAL = frozenset({"completed", "failed"})


@dataclass(frozen=True)
class ExportSpec:
    """One job as the worker needs it: what to export, and where it stands."""

    export_id: UUID
    customer_id: UUID
    kind: str  # events | stats
    format: str  # csv | ndjson
    filters: Mapping[str, str]
    window_start: datetime
    window_end: datetime
    status: str  # pending | running | completed | failed

    @property
    def file_name(self) -> str:
        """The finished file's name in the exports folder."""
        return f"{self.export_id}.{self.format}"


class ExportJobs(Protocol):
    """The jobs as the worker sees them (the command bus in production)."""

    def load(self, export_id: UUID) -> ExportSpec | None:
        """A job, or None if there is none with that id."""

    def progress(self, export_id: UUID, rows_written: int, progress_percent: int) -> None:
        """Record rows written so far (advisory)."""

    def complete(self, export_id: UUID, rows_written: int, bytes_written: int, file_name: str,
                 expires_at: datetime) -> None:
        """Durably record the finished file (nothing if the job is already final)."""

    def fail(self, export_id: UUID, reason: str) -> None:
        """Durably record why the job failed (nothing if it is already final)."""


class Exporter(Protocol):
    """What a job's file holds: its row count, then its bytes (CSV with a header line, or NDJSON)."""

    def count(self, spec: ExportSpec) -> int:
        """How many rows the file will have, about (progress only)."""

    def chunks(self, spec: ExportSpec) -> Iterator[bytes]:
        """The file's bytes in chunks."""
