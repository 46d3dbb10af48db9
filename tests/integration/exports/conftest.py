"""Export jobs over both ClickHouse backends: the whole API, and the exports worker fed from the
notification log of the same in-memory event store (as ``run-all`` feeds it)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from uuid import uuid4

import pytest

from consumers.exports.worker import ExportSink
from event_store.aggregates import ExportJob
from event_store.application import EmailEvents
from event_store.envelope import Envelope
from event_store.feed import NotificationFeed
from mailerlogic.config import Settings
from mailerlogic.exports import BusExportJobs
from mailerlogic.exports import ReadSideExporter
from mailerlogic.exports import exports_folder
from tests.helpers import bus_for
from tests.helpers import new_customer
from tests.integration.events import conftest as events_conftest
from warehouse.port import ClickHouse
from web.app import create_app

TTL = timedelta(hours=24)
events_clickhouse = events_conftest.events_clickhouse  # the fixture: both backends, with streaming


class Rig:
    """The API (its export clock shifted by ``shift``) and the exports worker on one event store."""

    def __init__(self, clickhouse: ClickHouse, tmp_path: Path) -> None:
        self.clickhouse = clickhouse
        self.events = EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path / "data"),
                                           "MAILERLOGIC_SECRET_KEY": "k"})
        app = create_app(self.settings, events=self.events, clickhouse=lambda: clickhouse)
        self.shift = timedelta()
        app.extensions["exports_clock"] = lambda: datetime.now(UTC) + self.shift
        self.client = app.test_client()
        self.folder = exports_folder(self.settings)
        self.jobs = BusExportJobs(bus_for(self.events, b"k"))
        self.sink = ExportSink(self.jobs, ReadSideExporter(lambda: clickhouse), self.folder, TTL)
        self.feed = NotificationFeed(self.events)
        self.read = 0

    def customer(self, tier: str = "enterprise") -> tuple[UUID, str]:
        """A new customer's id and API key."""
        account, key = new_customer(bus_for(self.events, b"k"), f"c{uuid4().hex[:8]}.test", tier=tier)
        return account.id, str(key)

    def request(self, key: str, **body: Any) -> str:
        """POST /api/exports; the export id (202 asserted)."""
        answer = self.client.post("/api/exports", json=body, headers={"X-API-Key": key})
        assert answer.status_code == 202, answer.get_json()
        return str(answer.get_json()["export_id"])

    def get(self, path: str, key: str, **query: Any) -> Any:
        """GET with the key; the response."""
        return self.client.get(path, query_string=query or None, headers={"X-API-Key": key})

    def status(self, key: str, export_id: str) -> dict[str, Any]:
        """GET /api/exports/<id> (200 asserted)."""
        answer = self.get(f"/api/exports/{export_id}", key)
        assert answer.status_code == 200, answer.get_json()
        return dict(answer.get_json())

    def download(self, key: str, export_id: str) -> Any:
        """GET /api/exports/<id>/download; the response."""
        return self.get(f"/api/exports/{export_id}/download", key)

    def published(self) -> list[Envelope]:
        """Envelopes published since the last call (what a consumer of the log would read)."""
        page = self.feed.read(self.read, 10_000)
        self.read = page.last_position
        return page.envelopes

    def work(self) -> list[Envelope]:
        """Hand the newly published envelopes to the exports worker, as the consumer loop does."""
        envelopes = self.published()
        self.sink.write(envelopes)
        return envelopes

    def stored(self, export_id: str) -> list[Any]:
        """The job's stored events, oldest first."""
        return list(self.events.repository.event_store.get(UUID(export_id)))

    def job(self, export_id: str) -> ExportJob:
        """The job as recorded."""
        found: ExportJob = self.events.repository.get(UUID(export_id))
        return found


@pytest.fixture
def rig(events_clickhouse: ClickHouse, tmp_path: Path) -> Rig:
    """The rig over ``events_clickhouse``."""
    return Rig(events_clickhouse, tmp_path)
