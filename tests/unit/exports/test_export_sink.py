"""The exports sink's decisions with in-memory jobs and exporters: what fails a job, what
propagates, and that nothing half-written is left behind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from uuid import uuid4

import pytest

from consumers.exports.ports import ExportSpec
from consumers.exports.worker import ExportSink
from tests.helpers import envelope

NOW = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)


class Jobs:
    """Jobs in a dict; records what the sink recorded."""

    def __init__(self, *specs: ExportSpec, broken: str = "") -> None:
        self.specs = {spec.export_id: spec for spec in specs}
        self.records: list[tuple[Any, ...]] = []
        self.broken = broken

    def load(self, export_id: UUID) -> ExportSpec | None:
        return self.specs.get(export_id)

    def _record(self, *what: Any) -> None:
        if what[0] == self.broken:
            raise ConnectionError("the event store is down")
        self.records.append(what)

    def progress(self, export_id: UUID, rows: int, percent: int) -> None:
        self._record("progress", rows, percent)

    def complete(self, export_id: UUID, rows: int, size: int, name: str, expires_at: datetime) -> None:
        self._record("complete", rows, size, name, expires_at)

    def fail(self, export_id: UUID, reason: str) -> None:
        self._record("fail", reason)


class Exporter:
    """Counts ``total`` rows, then yields ``chunks`` (an exception in them is raised there)."""

    def __init__(self, total: int, chunks: list[Any]) -> None:
        self.total, self.pieces = total, chunks

    def count(self, spec: ExportSpec) -> int:
        return self.total

    def chunks(self, spec: ExportSpec) -> Iterator[bytes]:
        for piece in self.pieces:
            if isinstance(piece, Exception):
                raise piece
            yield piece


def spec(status: str = "pending") -> ExportSpec:
    return ExportSpec(uuid4(), uuid4(), "events", "ndjson", {}, NOW - timedelta(days=1), NOW, status)


def requested(job: ExportSpec) -> Any:
    return envelope("export_requested", 1, customer_id=job.customer_id, export_id=str(job.export_id))


def sink(jobs: Jobs, exporter: Exporter, folder: Path) -> ExportSink:
    return ExportSink(jobs, exporter, folder, timedelta(hours=24), clock=lambda: NOW)


def test_a_job_is_written_and_completed(tmp_path: Path) -> None:
    job = spec()
    jobs = Jobs(job)
    sink(jobs, Exporter(2, [b'{"a":1}\n', b'{"a":2}\n']), tmp_path).write([requested(job)])
    assert jobs.records == [("progress", 0, 0), ("progress", 1, 50), ("progress", 2, 99),
                            ("complete", 2, 16, f"{job.export_id}.ndjson", NOW + timedelta(hours=24))]
    assert (tmp_path / f"{job.export_id}.ndjson").read_bytes() == b'{"a":1}\n{"a":2}\n'


@pytest.mark.parametrize(("total", "chunks", "reason"), [
    (3, [b"{}\n", b"{}\n"], "the export ended after 2 of 3 rows; request it again"),
    (3, [b"{}\n", RuntimeError("Code: 241. Memory limit exceeded")],
     "the export query failed; request the export again"),
    (3, [OSError(28, "No space left on device")],
     "the export file could not be written (No space left on device)"),
])
def test_a_failing_export_is_recorded_and_leaves_no_file(tmp_path: Path, total: int, chunks: list[Any],
                                                         reason: str) -> None:
    job = spec()
    jobs = Jobs(job)
    sink(jobs, Exporter(total, chunks), tmp_path).write([requested(job)])
    assert jobs.records[-1] == ("fail", reason)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("broken", ["progress", "complete", "fail"])
def test_a_failing_event_store_propagates(tmp_path: Path, broken: str) -> None:
    job = spec()
    jobs = Jobs(job, broken=broken)
    chunks: list[Any] = [RuntimeError("boom")] if broken == "fail" else [b"{}\n"]
    with pytest.raises(ConnectionError):
        sink(jobs, Exporter(1, chunks), tmp_path).write([requested(job)])
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_final_missing_and_malformed_requests_run_nothing(tmp_path: Path) -> None:
    done, failed = spec("completed"), spec("failed")
    jobs = Jobs(done, failed)
    odd = envelope("export_requested", 2, export_id="not-a-uuid")
    bare = envelope("export_requested", 3)
    other = envelope("queued", 4)
    sink(jobs, Exporter(1, [b"{}\n"]), tmp_path).write(
        [requested(done), requested(failed), requested(spec()), odd, bare, other])
    assert jobs.records == [] and list(tmp_path.iterdir()) == []


def test_each_job_runs_once_per_batch_and_expired_files_go(tmp_path: Path) -> None:
    job = spec()
    jobs = Jobs(job)
    stale = tmp_path / "old.csv"
    stale.write_bytes(b"x")
    os.utime(stale, (NOW.timestamp() - 1, NOW.timestamp() - 1))  # expired a second ago
    sink(jobs, Exporter(1, [b"{}\n"]), tmp_path).write([requested(job), requested(job)])
    assert [r[0] for r in jobs.records] == ["progress", "progress", "complete"]  # 0 %, 99 %, done
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{job.export_id}.ndjson"]
