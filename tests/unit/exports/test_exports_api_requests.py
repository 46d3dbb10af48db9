"""POST /api/exports and GET /api/exports/<id> without a worker: what is recorded, refused, hidden."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from uuid import uuid4

import pytest
from flask.testing import FlaskClient

from event_store.aggregates import ExportJob
from event_store.application import EmailEvents
from mailerlogic.config import Settings
from tests.helpers import bus_for
from tests.helpers import new_customer
from web.app import create_app

NOW = datetime(2026, 3, 15, 14, 30, 5, 250_000, tzinfo=UTC)
# Event times are whole seconds: an events file ends after the request's second.
END = datetime(2026, 3, 15, 14, 30, 6, tzinfo=UTC)


class Rig:
    """The app over an in-memory event store, with its export clock at NOW."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.events = EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k",
                                      **env})
        app = create_app(settings, events=self.events, clickhouse=lambda: None)
        app.extensions["exports_clock"] = lambda: NOW
        self.client: FlaskClient = app.test_client()

    def key(self, tier: str) -> str:
        _, key = new_customer(bus_for(self.events, b"k"), f"c{uuid4().hex[:8]}.test", tier=tier)
        return str(key)

    def post(self, key: str, body: Any, **options: Any) -> Any:
        return self.client.post("/api/exports", json=body, headers={"X-API-Key": key}, **options)

    def head(self) -> int:
        return self.events.recorder_.max_notification_id() or 0

    def job(self, export_id: str) -> ExportJob:
        found: ExportJob = self.events.repository.get(UUID(export_id))
        return found


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def test_a_stats_job_is_pending_with_its_window_fixed_at_the_request(rig: Rig) -> None:
    key = rig.key("starter")
    answer = rig.post(key, {"kind": "stats", "interval": "hour", "tag": "news"})
    assert (answer.status_code, answer.get_json()["status"]) == (202, "pending")
    export_id = answer.get_json()["export_id"]
    assert answer.headers["Location"] == f"/api/exports/{export_id}"
    status = rig.client.get(f"/api/v1/exports/{export_id}", headers={"X-API-Key": key})
    assert (status.status_code, status.get_json()) == (200, {
        "export_id": export_id, "kind": "stats", "format": "csv", "status": "pending", "rows_written": 0,
        "progress_percent": 0, "download_url": None, "expires_at": None,
        "created_at": "2026-03-15T14:30:05Z", "error": None})
    job = rig.job(export_id)
    assert (job.filters, job.window_start, job.window_end) == (
        {"interval": "hour", "tag": "news"}, NOW - timedelta(days=30), NOW)


def test_an_events_job_keeps_its_filters_and_is_cut_at_the_request_and_the_retention(rig: Rig) -> None:
    key = rig.key("enterprise")
    body = {"kind": "events", "format": "ndjson", "type": ["opened", "clicked"], "from": "news@",
            "from_timestamp": "2000-01-01", "to_timestamp": "2030-01-01", "recipient": None}
    answer = rig.post(key, body)
    assert answer.status_code == 202
    job = rig.job(answer.get_json()["export_id"])
    assert (job.kind, job.format, job.filters) == ("events", "ndjson", {
        "type": "opened,clicked", "from": "news@", "from_timestamp": "2000-01-01",
        "to_timestamp": "2030-01-01"})
    assert (job.window_start, job.window_end) == (NOW - timedelta(days=365), END)
    narrow = rig.job(rig.post(key, {"kind": "events", "from_timestamp": "2026-03-01",
                                    "to_timestamp": "2026-03-02T06:00:00Z"}).get_json()["export_id"])
    assert (narrow.window_start, narrow.window_end) == (datetime(2026, 3, 1, tzinfo=UTC),
                                                        datetime(2026, 3, 2, 6, tzinfo=UTC))


def test_an_events_window_starts_where_the_operators_retention_ends(tmp_path: Path) -> None:
    rig = Rig(tmp_path, MAILERLOGIC_ENTERPRISE_RETENTION_DAYS="30")
    job = rig.job(rig.post(rig.key("enterprise"), {"kind": "events"}).get_json()["export_id"])
    assert (job.window_start, job.window_end) == (NOW - timedelta(days=30), END)


@pytest.mark.parametrize("tier", ["starter", "professional"])
def test_events_need_the_events_api_tier_and_nothing_is_recorded(rig: Rig, tier: str) -> None:
    key = rig.key(tier)
    before = rig.head()
    answer = rig.post(key, {"kind": "events"})
    assert (answer.status_code, answer.get_json()["error"]) == (403, "event_api_disabled")
    assert rig.head() == before


def test_another_customers_export_is_not_found(rig: Rig) -> None:
    owner, other = rig.key("enterprise"), rig.key("enterprise")
    export_id = rig.post(owner, {"kind": "stats"}).get_json()["export_id"]
    for path in (f"/api/exports/{export_id}", f"/api/exports/{export_id}/download",
                 f"/api/exports/{uuid4()}", "/api/exports/not-a-uuid/download"):
        answer = rig.client.get(path, headers={"X-API-Key": other})
        assert (answer.status_code, answer.get_json()["error"]) == (404, "not_found"), path
    assert rig.client.get(f"/api/exports/{export_id}").status_code == 401


def test_a_job_not_yet_made_cannot_be_downloaded(rig: Rig) -> None:
    key = rig.key("starter")
    export_id = rig.post(key, {"kind": "stats"}).get_json()["export_id"]
    answer = rig.client.get(f"/api/exports/{export_id}/download", headers={"X-API-Key": key})
    assert (answer.status_code, answer.get_json()["error"]) == (409, "export_not_ready")


LONG = "x" * 257
BAD: list[tuple[Any, str, str | None]] = [
    ({}, "validation_error", "kind"),
    ({"kind": "logs"}, "validation_error", "kind"),
    ({"kind": "stats", "format": "xml"}, "validation_error", "format"),
    ({"kind": "stats", "colour": "red"}, "validation_error", "colour"),
    ({"kind": "stats", "tag": 5}, "validation_error", "tag"),
    ({"kind": "stats", "tag": LONG}, "validation_error", "tag"),
    ({"kind": "events", "type": 5}, "validation_error", "type"),
    ({"kind": "events", "type": ["opened", 1]}, "validation_error", "type"),
    ({"kind": "events", "type": "opened,nope"}, "validation_error", "type"),
    ({"kind": "events", "email_id": "x"}, "validation_error", "email_id"),
    ({"kind": "events", "from_timestamp": "yesterday"}, "validation_error", "from_timestamp"),
    ({"kind": "events", "from_timestamp": "2026-03-02", "to_timestamp": "2026-03-01"}, "validation_error",
     "from_timestamp"),
    ({"kind": "events", "fromdate": "2026-03-01"}, "validation_error", "fromdate"),
    ({"kind": "stats", "recipient": "ada@example.org"}, "validation_error", "recipient"),
    ({"kind": "stats", "interval": "week"}, "validation_error", "interval"),
    ({"kind": "stats", "timezone": "Mars/Base"}, "validation_error", "timezone"),
    ({"kind": "stats", "filter": "robots"}, "validation_error", "filter"),
    ({"kind": "stats", "fromdate": "2026-03-03", "todate": "2026-03-01"}, "validation_error", "fromdate"),
    ({"kind": "stats", "fromdate": "2024-01-01", "todate": "2026-03-01"}, "validation_error", "todate"),
    ({"kind": "stats", "domain_id": "nope"}, "validation_error", "domain_id"),
    ([{"kind": "stats"}], "validation_error", "_schema"),
    ("not json", "invalid_json", None),
]


@pytest.mark.parametrize(("body", "code", "field"), BAD)
def test_bad_input_is_a_400_and_records_nothing(rig: Rig, body: Any, code: str, field: str | None) -> None:
    key = rig.key("enterprise")
    before = rig.head()
    if body == "not json":
        answer = rig.client.post("/api/exports", data="{kind", content_type="application/json",
                                 headers={"X-API-Key": key})
    else:
        answer = rig.post(key, body)
    problem = answer.get_json()
    assert (answer.status_code, problem["error"]) == (400, code), problem
    if field is not None:
        assert list(problem["details"]) == [field], problem
    assert rig.head() == before


def test_a_body_that_is_not_json_is_a_415(rig: Rig) -> None:
    key = rig.key("enterprise")
    answer = rig.client.post("/api/exports", data="kind=stats", headers={"X-API-Key": key})
    assert (answer.status_code, answer.get_json()["error"]) == (415, "unsupported_media_type")


def test_at_most_five_exports_are_open_and_a_finished_one_frees_a_slot(rig: Rig) -> None:
    from commands.exports import CompleteExport
    from commands.exports import FailExport

    key, other = rig.key("starter"), rig.key("starter")
    opened = [rig.post(key, {"kind": "stats"}).get_json()["export_id"] for _ in range(5)]
    before = rig.head()
    refused = rig.post(key, {"kind": "stats", "format": "ndjson"})
    problem = refused.get_json()
    assert (refused.status_code, problem["error"]) == (409, "too_many_exports")
    assert problem["details"] == {"open_exports": opened}
    assert rig.head() == before  # nothing recorded
    assert rig.post(other, {"kind": "stats"}).status_code == 202  # per customer
    bus = bus_for(rig.events, b"k")
    bus.handle(CompleteExport(UUID(opened[0]), 10, 100, f"{opened[0]}.csv", NOW + timedelta(hours=24)))
    bus.handle(FailExport(UUID(opened[1]), "the statistics store did not answer"))
    again = [rig.post(key, {"kind": "stats"}) for _ in range(3)]
    assert [a.status_code for a in again] == [202, 202, 409]
    assert again[2].get_json()["details"]["open_exports"] == [
        *opened[2:], again[0].get_json()["export_id"], again[1].get_json()["export_id"]]


def test_a_request_that_loses_the_race_for_the_last_slot_is_refused_on_the_fresh_queue(rig: Rig) -> None:
    from event_store.aggregates import ExportQueue

    customer, key = new_customer(bus_for(rig.events, b"k"), "race.test")
    for _ in range(4):
        assert rig.post(key, {"kind": "stats"}).status_code == 202
    save, raced = rig.events.save, []

    def save_after_a_rival(*objs: Any, **kwargs: Any) -> Any:
        if not raced:  # another API process takes the fifth slot between our read and our save
            queue = rig.events.get(ExportQueue.create_id(customer.id), ExportQueue, "queue")
            rival = ExportJob.request(customer.id, "stats", "csv", {}, NOW, NOW - timedelta(days=1), END)
            queue.add(rival.id)
            raced.append(save(rival, queue)[0].domain_event.originator_id)
        return save(*objs, **kwargs)

    rig.events.save = save_after_a_rival  # type: ignore[method-assign]
    answer = rig.post(key, {"kind": "stats"})
    assert (answer.status_code, answer.get_json()["error"]) == (409, "too_many_exports")
    assert answer.get_json()["details"]["open_exports"][-1] == str(raced[0])
    assert len(rig.events.get(ExportQueue.create_id(customer.id), ExportQueue, "queue").recent) == 5
