"""Events export jobs on both backends: the file is the streaming export's and the Events API's
events for the same filters (CSV and NDJSON), rows counted exactly, progress recorded up to 100."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest

from event_store.aggregates import ExportJob
from event_store.envelope import Envelope
from event_store.envelope import event_id_for
from projections import events as event_rows
from read_api.events import export as events_export
from tests.integration.events.story import NOW
from tests.integration.events.story import story
from tests.integration.events.story import write
from tests.integration.exports.conftest import TTL
from tests.integration.exports.conftest import Rig

# filters -> events of the story they keep (12 visible: the internal one and the 366-day-old one never are)
CASES = [
    ({}, 12),
    ({"type": "opened,queued"}, 5),
    ({"type": ["clicked", "bounced"]}, 2),
    ({"tag": 'say "hi", \\ ok\nbye'}, 2),
    ({"recipient": "EXAMPLE.org", "from_timestamp": "2000-01-01"}, 7),
]


def rows_of(body: bytes, fmt: str) -> list[dict[str, Any]]:
    """The file's events as API objects."""
    if fmt == "ndjson":
        return [json.loads(line) for line in body.decode().split("\n") if line]
    reader = csv.reader(io.StringIO(body.decode(), newline=""))
    header = next(reader)
    found = []
    for values in reader:
        row: dict[str, Any] = dict(zip(header, values, strict=True))
        row["event_data"] = json.loads(row["event_data"])
        row["email_id"], row["tag"] = row["email_id"] or None, row["tag"] or None
        found.append(row)
    return found


def api_events(rig: Rig, key: str, query: dict[str, str]) -> list[dict[str, Any]]:
    """Every event the Events API pages list for ``query``."""
    return list(rig.get("/api/events", key, limit="1000", **query).get_json()["events"])


def by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {event["id"]: event for event in events}


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
@pytest.mark.parametrize(("filters", "expected"), CASES)
def test_the_file_equals_the_streaming_export_and_the_api(rig: Rig, fmt: str, filters: dict[str, Any],
                                                          expected: int) -> None:
    customer, key = rig.customer()
    other, _ = rig.customer()
    write(rig.clickhouse, story(customer), story(other, first_position=100))
    export_id = rig.request(key, kind="events", format=fmt, **filters)
    assert rig.status(key, export_id)["status"] == "pending"
    rig.work()
    status = rig.status(key, export_id)
    created, expires = _stamp(status.pop("created_at")), _stamp(status.pop("expires_at"))
    assert status == {"export_id": export_id, "kind": "events", "format": fmt, "status": "completed",
                      "rows_written": expected, "progress_percent": 100,
                      "download_url": f"http://localhost/api/exports/{export_id}/download", "error": None}
    assert TTL <= expires - created < TTL + timedelta(minutes=1)
    answer = rig.download(key, export_id)
    media = "text/csv" if fmt == "csv" else "application/x-ndjson"
    assert (answer.status_code, answer.mimetype) == (200, media)
    assert answer.headers["Content-Disposition"].startswith("attachment; filename=events-export-")
    assert answer.headers["Content-Disposition"].endswith(f".{fmt}")
    assert int(answer.headers["Content-Length"]) == len(answer.data) == rig.job(export_id).bytes_written
    query = {k: ",".join(v) if isinstance(v, list) else v for k, v in filters.items()}
    streamed = rig.get("/api/events/export", key, format=fmt, **query).data
    assert len(rows_of(answer.data, fmt)) == len(rows_of(streamed, fmt)) == expected
    shown = by_id(api_events(rig, key, query))
    assert by_id(rows_of(answer.data, fmt)) == by_id(rows_of(streamed, fmt)) == shown
    if fmt == "ndjson":  # byte for byte, line by line (slices carry no order inside)
        assert sorted(answer.data.split(b"\n")) == sorted(streamed.split(b"\n"))
    else:
        assert answer.data.split(b"\n", 1)[0] == streamed.split(b"\n", 1)[0]


def test_an_empty_export_is_a_header_only_csv(rig: Rig) -> None:
    _, key = rig.customer()
    export_id = rig.request(key, kind="events", tag="no-such-tag")
    rig.work()
    assert rig.status(key, export_id)["rows_written"] == 0
    assert rig.download(key, export_id).data == rig.get("/api/events/export", key, tag="no-such-tag").data


HOURS = 3000


def test_progress_is_recorded_in_steps_and_reaches_100(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    customer, key = rig.customer()
    start = NOW - timedelta(hours=HOURS)
    rows = [event_rows.row(Envelope(event_id_for("hourly", n), "opened", customer, start + timedelta(hours=n),
                                    start + timedelta(hours=n), 50_000 + n, None,
                                    {"recipient": f"u{n}@example.org", "tag": "hourly"}))
            for n in range(HOURS)]
    rig.clickhouse.insert(event_rows.TABLE, event_rows.COLUMNS, rows)
    monkeypatch.setattr(events_export, "SLICE_ROWS", 100)  # 30 slices: the bytes come in steps
    export_id = rig.request(key, kind="events", format="ndjson")
    rig.work()
    stored = rig.stored(export_id)
    progressed = [(e.rows_written, e.progress_percent) for e in stored if isinstance(e, ExportJob.Progressed)]
    percents = [percent for _, percent in progressed]
    assert progressed[0] == (0, 0) and len(progressed) >= 10
    assert percents == sorted(set(percents)) and percents[-1] <= 99
    assert all(min(99, rows * 100 // HOURS) == percent for rows, percent in progressed), str(progressed)
    [completed] = [e for e in stored if isinstance(e, ExportJob.Completed)]
    assert (type(stored[-1]), completed.rows_written) == (ExportJob.Completed, HOURS)
    status = rig.status(key, export_id)
    assert (status["progress_percent"], status["rows_written"]) == (100, HOURS)
    assert rig.download(key, export_id).data.count(b"\n") == HOURS
