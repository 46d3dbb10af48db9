"""ExportJob: its states, final jobs ignore later records, expiry is read at a time, and only the
request is published (as a flat ``export_requested``)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from uuid import uuid4

import pytest

from event_store.aggregates import ExportJob
from event_store.publishing import envelope_of

NOW = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=24)


def job() -> ExportJob:
    return ExportJob.request(uuid4(), "events", "csv", {"type": "opened"}, NOW, NOW - timedelta(days=365),
                             NOW)


def test_a_job_goes_pending_running_completed_and_expires_at_its_time() -> None:
    made = job()
    assert (made.status, made.rows_written, made.progress_percent) == ("pending", 0, 0)
    made.progress(50, 40)
    assert (made.status, made.rows_written, made.progress_percent) == ("running", 50, 40)
    made.complete(120, 4096, f"{made.id}.csv", LATER)
    assert (made.status, made.rows_written, made.progress_percent, made.bytes_written) == (
        "completed", 120, 100, 4096)
    assert made.status_at(LATER - timedelta(seconds=1)) == "completed"
    assert made.status_at(LATER) == "expired"


def test_a_final_job_records_nothing_more() -> None:
    made = job()
    made.fail("the export query failed; request the export again")
    version = made.version
    made.progress(1, 1)
    made.complete(1, 1, "x.csv", LATER)
    made.fail("again")
    assert (made.version, made.status, made.error) == (
        version, "failed", "the export query failed; request the export again")
    done = job()
    done.complete(3, 30, "f.csv", LATER)
    done.fail("late")
    assert (done.status, done.error, done.status_at(LATER)) == ("completed", None, "expired")


def test_progress_stays_below_100_until_completed() -> None:
    made = job()
    made.progress(10, 250)
    assert made.progress_percent == 99


def test_unknown_kind_or_format_is_refused() -> None:
    with pytest.raises(ValueError):
        ExportJob.request(uuid4(), "logs", "csv", {}, NOW, NOW, NOW)
    with pytest.raises(ValueError):
        ExportJob.request(uuid4(), "stats", "xml", {}, NOW, NOW, NOW)


def test_only_the_request_is_published_flat() -> None:
    made = job()
    made.progress(1, 10)
    made.complete(2, 20, "f.csv", LATER)
    requested, progressed, completed = made.collect_events()
    envelope = envelope_of(requested, 7)
    assert envelope is not None
    assert (envelope.event_type, envelope.customer_id, envelope.email_id, envelope.position,
            envelope.occurred_at) == ("export_requested", made.customer_id, None, 7, NOW)
    assert envelope.payload == {"export_id": str(made.id), "kind": "events", "format": "csv"}
    assert envelope_of(progressed, 8) is None and envelope_of(completed, 9) is None
