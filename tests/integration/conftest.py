"""Both ClickHouse backends for integration tests, each test in its own throwaway database.

* ``chdb``: one data directory for the whole session (chdb opens one path per process).
* ``server``: ``CLICKHOUSE_URL`` (default: the 18.16 server of ``make services``). When it
  cannot be reached the test fails with the reason; it is never skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit
from uuid import uuid4

import pytest

from warehouse import schema
from warehouse.clients import ChdbClient
from warehouse.clients import connect
from warehouse.port import ClickHouse

DEFAULT_URL = "clickhouse://default:@127.0.0.1:29000/default"
# Read at import time: the root conftest clears the project's variables around each test.
SERVER_URL = os.environ.get("CLICKHOUSE_URL") or DEFAULT_URL
BACKENDS = [
    pytest.param("chdb", marks=pytest.mark.chdb, id="chdb"),
    pytest.param("server", marks=pytest.mark.clickhouse, id="server"),
]




@pytest.fixture
def bootstrap() -> str:
    """``KAFKA_BOOTSTRAP_SERVERS`` of the real broker (the test fails when it is missing)."""
    from tests.conftest import require_service

    return require_service("KAFKA_BOOTSTRAP_SERVERS")


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one chdb data directory of this test session."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``CLICKHOUSE_URL``, checked once to be reachable."""
    try:
        client = connect(SERVER_URL, tmp_path_factory.mktemp("unused"))
        client.execute("SELECT version()")
        client.close()
    except Exception as exc:  # any failure means "not reachable"
        problem = repr(exc)
    else:
        return SERVER_URL
    pytest.fail(f"ClickHouse server at {SERVER_URL} is unreachable ({problem}); "
                "start it with `make services` or set CLICKHOUSE_URL", pytrace=False)


def _open(backend: str, name: str, request: pytest.FixtureRequest) -> ClickHouse:
    if backend == "chdb":
        return ChdbClient.open(request.getfixturevalue("chdb_path"), name)
    url = urlsplit(request.getfixturevalue("server_url"))
    return connect(url._replace(path=f"/{name}").geturl(), Path("unused"))


@pytest.fixture(params=BACKENDS)
def empty_clickhouse(request: pytest.FixtureRequest) -> Iterator[ClickHouse]:
    """A client on a fresh, empty database ``ml_test_<hex>``, dropped afterwards."""
    name = f"ml_test_{uuid4().hex[:12]}"
    client = _open(request.param, name, request)
    try:
        yield client
    finally:
        client.execute(f"DROP DATABASE IF EXISTS {name}")
        client.close()


@pytest.fixture
def clickhouse(empty_clickhouse: ClickHouse) -> ClickHouse:
    """A client on a fresh database with the schema applied."""
    schema.apply(empty_clickhouse)
    return empty_clickhouse
