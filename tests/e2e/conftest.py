"""End-to-end stacks: real services with separate processes, and the embedded default."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from tests.conftest import require_service
from tests.e2e.stack import Stack


@pytest.fixture
def real_env(tmp_path: Path, postgres_url: str, clickhouse_url: str) -> dict[str, str]:
    """Fresh PostgreSQL and ClickHouse databases and a fresh Kafka topic for one test."""
    return {
        "MAILERLOGIC_DATA_DIR": str(tmp_path / "data"),
        "EVENT_STORE_URL": postgres_url,
        "CLICKHOUSE_URL": clickhouse_url,
        "KAFKA_BOOTSTRAP_SERVERS": require_service("KAFKA_BOOTSTRAP_SERVERS"),
        "MAILERLOGIC_CLICKHOUSE_HTTP_URL": require_service("MAILERLOGIC_CLICKHOUSE_HTTP_URL"),
        "MAILERLOGIC_KAFKA_TOPIC": f"ml-e2e-{uuid4().hex[:8]}",
    }


def _running(stack: Stack, processes: dict[str, tuple[str, ...]]) -> Iterator[Stack]:
    for name, args in processes.items():
        stack.start(name, *args)
    try:
        stack.wait_healthy()
        yield stack
    finally:
        stack.stop_all()
        print(stack.log_tail())  # shown by pytest only when the test failed


@pytest.fixture
def real_stack(real_env: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    """API (gunicorn, 2 workers), relay and projector as three separate processes."""
    yield from _running(Stack(real_env, tmp_path), {
        "api": ("api", "--workers", "2"), "relay": ("relay",), "projector": ("consume", "projector")})


@pytest.fixture
def embedded_stack(tmp_path: Path) -> Iterator[Stack]:
    """`mailerlogic run-all` with nothing configured but a data dir."""
    stack = Stack({"MAILERLOGIC_DATA_DIR": str(tmp_path / "data")}, tmp_path)
    stack.env = {k: v for k, v in stack.env.items()
                 if k not in ("EVENT_STORE_URL", "CLICKHOUSE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    yield from _running(stack, {"all": ("run-all",)})
