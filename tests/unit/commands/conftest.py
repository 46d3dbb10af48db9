"""Shared by the API tests of the write side: the app on an in-memory event store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from event_store.application import EmailEvents
from mailerlogic.config import Settings
from web.app import create_app

SECRET = b"test-secret"


@pytest.fixture
def events() -> EmailEvents:
    return EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def app(events: EmailEvents, tmp_path: Path) -> Flask:
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path),
                                  "MAILERLOGIC_SECRET_KEY": SECRET.decode()})

    def no_clickhouse() -> Any:
        raise AssertionError("the write side never touches ClickHouse")

    app = create_app(settings, events=events, clickhouse=no_clickhouse)
    app.extensions["usage"] = lambda customer_id: 0
    return app


