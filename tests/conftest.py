"""Fixtures shared by every layer."""

from __future__ import annotations

import os
from collections.abc import Iterator

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
                ("EVENT_STORE_URL", "KAFKA_BOOTSTRAP_SERVERS", "CLICKHOUSE_URL")}


def require_service(name: str) -> str:
    """The address of a real service, or a failed test (never a skip) naming the fix."""
    value = _SERVICE_ENV.get(name)
    if not value:
        pytest.fail(f"{name} is not set: start the real services with `make services` "
                    "and source .services/env (make test does both)", pytrace=False)
    return value
