"""Two OS processes hit one key at the same moment: the limit holds exactly on both stores."""

from __future__ import annotations

import multiprocessing
import queue
import sqlite3
import time
import traceback
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.parse import urlunsplit
from uuid import uuid4

import psycopg
import pytest

from tests.conftest import require_service
from web.ratelimit import Decision
from web.ratelimit import PostgresRateLimiter
from web.ratelimit import SqliteRateLimiter

NOW = 1_700_000_050.0  # 10 s into a window, for every hit of both processes
LATER = NOW + 80  # 30 s into the next window: half of the previous 600 still counts
WINDOW = int(NOW // 60)
LIMIT, HITS, PROCESSES = 600, 400, 2
TIMEOUT = 120.0


def hit_many(backend: str, target: str, now: float, start: Any, results: Any) -> None:
    """Child process: open the store, wait for the sibling, then hit the shared key."""
    try:
        limiter = SqliteRateLimiter(target) if backend == "sqlite" else PostgresRateLimiter(target)
        start.wait(timeout=TIMEOUT)
        allowed = sum(limiter.hit("customer-1", LIMIT, now).allowed for _ in range(HITS))
        limiter.close()
        results.put(("ok", allowed))
    except BaseException:
        start.abort()  # the sibling stops waiting at once
        results.put(("error", traceback.format_exc()))


def run_processes(backend: str, target: str, now: float) -> list[int]:
    """Allowed hits per process, from real OS processes (spawn) started together."""
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(PROCESSES), ctx.Queue()
    children = [ctx.Process(target=hit_many, args=(backend, target, now, start, results))
                for _ in range(PROCESSES)]
    for child in children:
        child.start()
    try:
        outcomes = collect(results, children)
    finally:
        for child in children:
            child.join(timeout=TIMEOUT)
            if child.is_alive():
                child.kill()
    assert [kind for kind, _ in outcomes] == ["ok"] * PROCESSES, outcomes
    assert [child.exitcode for child in children] == [0] * PROCESSES
    return [int(allowed) for _, allowed in outcomes]


def collect(results: Any, children: list[Any]) -> list[tuple[str, Any]]:
    """Each child's report; stops early when a child died without one (bounded by TIMEOUT)."""
    outcomes: list[tuple[str, Any]] = []
    deadline = time.monotonic() + TIMEOUT
    while len(outcomes) < len(children) and time.monotonic() < deadline:
        try:
            outcomes.append(results.get(timeout=0.5))
        except queue.Empty:
            if any(child.exitcode not in (None, 0) for child in children):
                break
    return outcomes


@pytest.fixture
def throwaway_database() -> Iterator[Callable[[str], str]]:
    """Creates ``ml_rl_<hex>`` on a real PostgreSQL server; each is dropped afterwards."""
    created: list[tuple[str, str]] = []

    def create(base: str) -> str:
        name = f"ml_rl_{uuid4().hex[:10]}"
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        created.append((base, name))
        return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))

    yield create
    for base, name in created:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def assert_shared_limit(backend: str, target: str) -> None:
    """600 allowed of 2 x 400 hits in one window; 300 of 2 x 400 in the middle of the next."""
    first = run_processes(backend, target, NOW)
    assert (sum(first), PROCESSES * HITS - sum(first)) == (600, 200)
    # the sibling was allowed at most its 400 hits, so each process got at least 600 - 400
    assert all(LIMIT - HITS <= n <= HITS for n in first), first
    second = run_processes(backend, target, LATER)
    assert (sum(second), PROCESSES * HITS - sum(second)) == (300, 500)


def test_two_processes_share_one_sqlite_limit(tmp_path: Path) -> None:
    path = tmp_path / "ratelimit.sqlite"
    assert_shared_limit("sqlite", str(path))
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute('SELECT key, "window", count FROM ratelimit_counters ORDER BY 2').fetchall()
    assert rows == [("customer-1", WINDOW, 600), ("customer-1", WINDOW + 1, 300)]
    with closing(SqliteRateLimiter(path)) as limiter:
        assert limiter.hit("customer-1", LIMIT, LATER) == Decision(False, 600, 0, 1_700_000_160, 1)


@pytest.mark.postgres
def test_two_processes_share_one_postgres_limit(throwaway_database: Callable[[str], str]) -> None:
    # fails (never skips) without EVENT_STORE_URL, telling to run `make services`
    rl_database = throwaway_database(require_service("EVENT_STORE_URL"))
    assert_shared_limit("postgres", rl_database)
    with psycopg.connect(rl_database) as db:
        rows = db.execute('SELECT key, "window", count FROM ratelimit_counters ORDER BY 2').fetchall()
    assert rows == [("customer-1", WINDOW, 600), ("customer-1", WINDOW + 1, 300)]
    with closing(PostgresRateLimiter(rl_database)) as limiter:
        assert limiter.hit("customer-1", LIMIT, LATER) == Decision(False, 600, 0, 1_700_000_160, 1)
