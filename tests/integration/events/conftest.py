"""The Events API over both ClickHouse backends, with the HTTP interface the server streams over.

``events_clickhouse`` is the 18.16 server (native protocol for queries, the HTTP address from
``MAILERLOGIC_TEST_CLICKHOUSE_HTTP`` for streams) or chdb, on a throwaway database with the
schema applied. ``api`` is the whole Flask app over it, with an in-memory event store holding
the customers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit
from uuid import uuid4

import pytest

from event_store.application import EmailEvents
from mailerlogic.config import Settings
from tests.integration.conftest import BACKENDS
from tests.integration.events.rig import Api
from warehouse import schema
from warehouse.clients import ChdbClient
from warehouse.clients import connect
from warehouse.port import ClickHouse
from web.app import create_app

# Read at import time: the root conftest clears the project's variables around each test.
HTTP_URL = os.environ.get("MAILERLOGIC_TEST_CLICKHOUSE_HTTP", "")


@pytest.fixture(params=BACKENDS)
def events_clickhouse(request: pytest.FixtureRequest) -> Iterator[ClickHouse]:
    """A client (with streaming) on a fresh database ``ml_test_<hex>`` with the schema, dropped after."""
    name = f"ml_test_{uuid4().hex[:12]}"
    if request.param == "chdb":
        client: ClickHouse = ChdbClient.open(request.getfixturevalue("chdb_path"), name)
    else:
        if not HTTP_URL:
            pytest.fail("MAILERLOGIC_TEST_CLICKHOUSE_HTTP is not set: source .services/env "
                        "(make services writes it)", pytrace=False)
        url = urlsplit(request.getfixturevalue("server_url"))
        client = connect(url._replace(path=f"/{name}").geturl(), Path("unused"), HTTP_URL)
    try:
        schema.apply(client)
        yield client
    finally:
        client.execute(f"DROP DATABASE IF EXISTS {name}")
        client.close()


@pytest.fixture
def api(events_clickhouse: ClickHouse, tmp_path: Path) -> Api:
    """The whole API over ``events_clickhouse``."""
    events = EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k"})
    app = create_app(settings, events=events, clickhouse=lambda: events_clickhouse)
    return Api(app.test_client(), events)
