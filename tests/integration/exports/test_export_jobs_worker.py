"""The exports worker on both backends: redelivery runs nothing twice, a crash between the file
and ``Completed`` re-runs the job cleanly from the uncommitted log position, failures are recorded
and shown, files expire (410) and are swept."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

from consumers import loop
from consumers.dead_letters import FileDeadLetters
from consumers.exports.worker import ExportSink
from consumers.log_source import LogSource
from event_store.envelope import Envelope
from event_store.feed import NotificationFeed
from mailerlogic.exports import BusExportJobs
from mailerlogic.exports import ReadSideExporter
from mailerlogic.exports import sweep_job
from tests.integration.events.story import story
from tests.integration.events.story import write
from tests.integration.exports.conftest import TTL
from tests.integration.exports.conftest import Rig

FAST = loop.Limits(max_records=64, max_wait_s=0.0, poll_timeout_s=0.01)


def kinds(rig: Rig, export_id: str) -> list[str]:
    return [type(e).__name__ for e in rig.stored(export_id)]


def test_a_redelivered_request_runs_nothing_twice(rig: Rig) -> None:
    customer, key = rig.customer()
    write(rig.clickhouse, story(customer))
    export_id = rig.request(key, kind="events", format="csv")
    envelopes = rig.work()
    assert [e.event_type for e in envelopes] == ["export_requested"]
    path = rig.folder / f"{export_id}.csv"
    recorded = kinds(rig, export_id)
    assert (recorded[0], recorded[-1], recorded.count("Completed")) == ("Requested", "Completed", 1)
    before = (path.stat().st_ino, path.read_bytes(), rig.job(export_id).version)
    rig.sink.write(envelopes)  # the same request again, as after a crash before the commit
    rig.sink.write(envelopes + envelopes)
    assert (path.stat().st_ino, path.read_bytes(), rig.job(export_id).version) == before
    assert kinds(rig, export_id) == recorded
    assert sorted(p.name for p in rig.folder.iterdir()) == [f"{export_id}.csv"]


class CrashOnComplete(BusExportJobs):
    """The event store "dies" right after the file was renamed, before ``Completed`` is stored."""

    def complete(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed between the file and Completed")


class StopAfterWrite:
    """A sink that stops the loop once a batch was written (so the loop commits, then returns)."""

    def __init__(self, sink: ExportSink, stop: threading.Event) -> None:
        self.sink, self.stop = sink, stop

    def write(self, envelopes: Sequence[Envelope]) -> None:
        self.sink.write(envelopes)
        if any(e.event_type == "export_requested" for e in envelopes):
            self.stop.set()


def test_a_crash_between_the_file_and_completed_reruns_the_job_cleanly(rig: Rig, tmp_path: Path) -> None:
    customer, key = rig.customer()
    write(rig.clickhouse, story(customer))
    export_id = rig.request(key, kind="events", format="ndjson")
    feed, exporter = NotificationFeed(rig.events), ReadSideExporter(lambda: rig.clickhouse)
    dead = FileDeadLetters(tmp_path / "dead-letters.ndjson")
    crashing = ExportSink(CrashOnComplete(rig.jobs.bus), exporter, rig.folder, TTL)
    try:
        loop.run(LogSource(feed, "exports"), crashing, dead, FAST, threading.Event())
    except RuntimeError as exc:
        assert str(exc) == "killed between the file and Completed"
    else:
        raise AssertionError("the loop did not crash")
    assert feed.position("exports") == 0  # nothing committed
    crashed = kinds(rig, export_id)
    assert (crashed[0], set(crashed[1:])) == ("Requested", {"Progressed"})
    assert (rig.job(export_id).status, rig.status(key, export_id)["status"]) == ("running", "running")
    assert rig.download(key, export_id).status_code == 409
    first = (rig.folder / f"{export_id}.ndjson").read_bytes()  # renamed, but not recorded
    stop = threading.Event()
    sink = StopAfterWrite(ExportSink(rig.jobs, exporter, rig.folder, TTL), stop)
    loop.run(LogSource(feed, "exports"), sink, dead, FAST, stop)
    [request] = [e for e in feed.read(0, 1000).envelopes if e.event_type == "export_requested"]
    assert feed.position("exports") == request.position  # committed after Completed
    rerun = kinds(rig, export_id)[len(crashed):]
    assert (set(rerun[:-1]), rerun[-1]) == ({"Progressed"}, "Completed")  # once, after a whole re-run
    assert [e.progress_percent for e in rig.stored(export_id)[len(crashed):-1]][0] == 0
    status = rig.status(key, export_id)
    assert (status["status"], status["rows_written"]) == ("completed", 12)
    body = rig.download(key, export_id).data
    assert sorted(body.split(b"\n")) == sorted(first.split(b"\n"))
    streamed = rig.get("/api/events/export", key, format="ndjson").data
    assert sorted(body.split(b"\n")) == sorted(streamed.split(b"\n"))
    assert sorted(p.name for p in rig.folder.iterdir()) == [f"{export_id}.ndjson"]  # no part left


def test_a_failing_export_is_recorded_shown_and_not_retried(rig: Rig) -> None:
    _, key = rig.customer("starter")
    rig.folder.parent.mkdir(parents=True, exist_ok=True)
    rig.folder.write_text("not a folder")  # the files cannot be written
    export_id = rig.request(key, kind="stats")
    envelopes = rig.work()
    reason = "the export file could not be written (File exists)"
    status = rig.status(key, export_id)
    assert (status["status"], status["error"], status["download_url"], status["progress_percent"]) == (
        "failed", reason, None, 0)
    answer = rig.download(key, export_id)
    assert (answer.status_code, answer.get_json()) == (409, {"error": "export_failed",
                                                            "message": f"the export failed: {reason}"})
    version = rig.job(export_id).version
    rig.sink.write(envelopes)
    assert rig.job(export_id).version == version
    assert kinds(rig, export_id) == ["Requested", "Progressed", "Failed"]


def test_a_file_expires_after_its_ttl_and_is_swept(rig: Rig) -> None:
    _, key = rig.customer("starter")
    export_id = rig.request(key, kind="stats", format="ndjson")
    assert rig.download(key, export_id).get_json()["error"] == "export_not_ready"
    rig.work()
    status = rig.status(key, export_id)
    expires = datetime.fromisoformat(status["expires_at"].replace("Z", "+00:00"))
    assert rig.download(key, export_id).status_code == 200
    assert len(rig.download(key, export_id).data.splitlines()) == status["rows_written"] == 31
    rig.shift = expires - datetime.now(UTC) + timedelta(seconds=1)  # the API's clock, past expires_at
    expired = rig.status(key, export_id)
    assert (expired["status"], expired["download_url"], expired["rows_written"]) == ("expired", None, 31)
    answer = rig.download(key, export_id)
    assert (answer.status_code, answer.get_json()["error"]) == (410, "export_expired")
    rig.shift = timedelta()
    sweep_job(rig.settings, expires - timedelta(seconds=2))
    assert rig.download(key, export_id).status_code == 200  # not yet expired: kept
    sweep_job(rig.settings, expires + timedelta(seconds=1))
    assert list(rig.folder.iterdir()) == []
    answer = rig.download(key, export_id)  # the clock says completed, the file is gone
    assert (answer.status_code, answer.get_json()["error"]) == (410, "export_expired")


def test_status_of_a_running_job_shows_its_progress(rig: Rig) -> None:
    _, key = rig.customer()
    export_id = rig.request(key, kind="events")
    rig.jobs.progress(rig.job(export_id).id, 7, 35)
    status = rig.status(key, export_id)
    assert (status["status"], status["rows_written"], status["progress_percent"], status["download_url"]) == (
        "running", 7, 35, None)
