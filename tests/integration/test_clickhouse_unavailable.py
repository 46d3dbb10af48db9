"""Reads while the ClickHouse server is unreachable answer ``503`` with ``Retry-After``, and the
process's client serves again as soon as the server is back.

"Unreachable" is produced without stopping the shared server: a closed loopback port (what a
stopped server looks like: connection refused), and a forwarder in front of the real server
that is cut and restored (``tests/support/tcp_proxy.py``: the client's open connection drops,
new ones are refused, then accepted again), which is a restart as the client sees it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import pytest
from flask import Flask

from event_store.application import EmailEvents
from mailerlogic.config import Settings
from mailerlogic.wiring import clickhouse_factory
from tests.helpers import bus_for
from tests.helpers import new_customer
from tests.support.ports import free_low_port
from tests.support.tcp_proxy import TcpProxy
from warehouse.clients import AnalyticsUnavailable
from warehouse.clients import connect
from web.app import create_app

pytestmark = pytest.mark.clickhouse

READS = ("/api/stats/outbound", "/api/v1/stats/outbound/sends?interval=hour")


@pytest.fixture
def database(server_url: str) -> Iterator[str]:
    """A throwaway database name on the real server, dropped afterwards."""
    name = f"ml_test_{uuid4().hex[:12]}"
    yield name
    admin = connect(server_url, Path("unused"))
    admin.execute(f"DROP DATABASE IF EXISTS {name}")
    admin.close()


def _app(tmp_path: Path, clickhouse_url: str, **env: str) -> tuple[Flask, str]:
    """The API over a per-thread client factory of ``clickhouse_url``, and a customer's key."""
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k",
                                  "CLICKHOUSE_URL": clickhouse_url, **env})
    events = EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    _, key = new_customer(bus_for(events, b"k"), "acme.test")
    app = create_app(settings, events=events, clickhouse=clickhouse_factory(settings))
    return app, key


def _get(app: Flask, path: str, key: str) -> tuple[int, dict[str, Any], str | None]:
    response = app.test_client().get(path, headers={"X-API-Key": key})
    return response.status_code, response.get_json(), response.headers.get("Retry-After")


def _unavailable(status: int, body: dict[str, Any], retry_after: str | None) -> bool:
    return (status, body["error"], retry_after) == (503, "analytics_unavailable", "5")


def test_stats_reads_answer_503_with_retry_after_while_clickhouse_refuses(tmp_path: Path) -> None:
    closed = free_low_port()  # nothing listens there: connection refused, as from a stopped server
    app, key = _app(tmp_path, f"clickhouse://default:@127.0.0.1:{closed}/ml_nowhere")

    for path in READS:
        status, body, retry_after = _get(app, path, key)
        assert (status, retry_after) == (503, "5")
        assert body == {"error": "analytics_unavailable",
                        "message": "the analytics store is unreachable right now: retry after the "
                                   "Retry-After seconds"}

    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["clickhouse"]["error"].startswith(
        "AnalyticsUnavailable: ClickHouse is unreachable: NetworkError")


def test_a_client_that_lost_its_server_serves_again_once_it_is_back(
        tmp_path: Path, server_url: str, database: str) -> None:
    real = urlsplit(server_url)
    with TcpProxy(real.hostname or "127.0.0.1", real.port or 9000) as proxy:
        url = real._replace(netloc=f"default:@127.0.0.1:{proxy.port}", path=f"/{database}").geturl()
        app, key = _app(tmp_path, url)
        proxy.cut()  # down before this thread's client was ever built
        assert _unavailable(*_get(app, READS[0], key))

        proxy.restore()
        status, before, _ = _get(app, READS[0], key)
        assert (status, before["sent"]) == (200, 0)
        client = app.extensions["clickhouse"]()  # this thread's client, as the requests used it

        proxy.cut()  # the open connection drops, new ones are refused
        assert _unavailable(*_get(app, READS[0], key))
        assert _unavailable(*_get(app, READS[1], key))

        proxy.restore()
        status, after, _ = _get(app, READS[0], key)
        assert (status, after) == (200, before)
        assert app.extensions["clickhouse"]() is client  # the same client reconnected by itself


def test_a_stream_from_an_unreachable_http_interface_is_analytics_unavailable(
        server_url: str, database: str) -> None:
    closed = free_low_port()
    url = urlsplit(server_url)._replace(path=f"/{database}").geturl()
    client = connect(url, Path("unused"), http_url=f"http://127.0.0.1:{closed}")
    try:
        assert client.execute("SELECT 1") == [(1,)]  # the native interface answers
        with pytest.raises(AnalyticsUnavailable, match="ConnectionRefusedError"):
            next(client.stream("SELECT 1", None, "CSV"))
    finally:
        client.close()
