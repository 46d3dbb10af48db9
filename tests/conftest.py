"""Fixtures shared by every layer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit
from urllib.parse import urlunsplit
from uuid import uuid4

import pytest

from mailerlogic.config import VARIABLES


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests configure processes explicitly; nothing leaks from the caller's shell."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield


def service_env() -> dict[str, str]:
    """The real services' addresses, as `make services` wrote them (read before cleaning)."""
    return {k: v for k, v in _SERVICE_ENV.items() if v}


_SERVICE_ENV = {name: os.environ.get(name, "") for name in
                ("EVENT_STORE_URL", "KAFKA_BOOTSTRAP_SERVERS", "CLICKHOUSE_URL",
                 "MAILERLOGIC_CLICKHOUSE_HTTP_URL")}


def require_service(name: str) -> str:
    """The address of a real service, or a failed test (never a skip) naming the fix."""
    value = _SERVICE_ENV.get(name)
    if not value:
        pytest.fail(f"{name} is not set: start the real services with `make services` "
                    "and source .services/env (make test does both)", pytrace=False)
    return value


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database on the real server."""
    import psycopg

    base = require_service("EVENT_STORE_URL")
    name = f"ml_test_{uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def clickhouse_url() -> Iterator[str]:
    """A throwaway database name on the real ClickHouse server (created on first connect)."""
    from clickhouse_driver import Client

    base = require_service("CLICKHOUSE_URL")
    name = f"ml_test_{uuid4().hex[:10]}"
    yield urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
    Client.from_url(base).execute(f"DROP DATABASE IF EXISTS {name}")
