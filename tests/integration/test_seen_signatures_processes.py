"""OS processes claim the same inbound signatures at once: each is won exactly once (both stores)."""

from __future__ import annotations

import multiprocessing
import queue
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

from web.seen_signatures import SqlSeenSignatures

NOW = 1_710_513_000.0
DIGESTS = [f"{n:064x}" for n in range(200)]
PROCESSES = 3
TIMEOUT = 120.0


def claim_all(url: str | None, path: str, start: Any, results: Any) -> None:
    """Child process: open the store, wait for the siblings, then claim every digest."""
    try:
        store = SqlSeenSignatures(url, Path(path))
        store.claim("warm-up", int(NOW) + 300, NOW)  # connect (and create the table) before the race
        start.wait(timeout=TIMEOUT)
        won = [d for d in DIGESTS if store.claim(d, int(NOW) + 300, NOW)]
        store.close()
        results.put(("ok", won))
    except BaseException:
        start.abort()
        results.put(("error", traceback.format_exc()))


def race(url: str | None, path: Path) -> list[list[str]]:
    """The digests each process won, from real OS processes (spawn) started together."""
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(PROCESSES), ctx.Queue()
    children = [ctx.Process(target=claim_all, args=(url, str(path), start, results))
                for _ in range(PROCESSES)]
    for child in children:
        child.start()
    outcomes: list[tuple[str, Any]] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while len(outcomes) < PROCESSES and time.monotonic() < deadline:
            try:
                outcomes.append(results.get(timeout=0.5))
            except queue.Empty:
                if any(child.exitcode not in (None, 0) for child in children):
                    break
    finally:
        for child in children:
            child.join(timeout=TIMEOUT)
            if child.is_alive():
                child.kill()
    assert [kind for kind, _ in outcomes] == ["ok"] * PROCESSES, outcomes
    return [won for _, won in outcomes]


def _check(wins: list[list[str]]) -> None:
    every = [digest for won in wins for digest in won]
    assert sorted(every) == DIGESTS  # each digest won once, by exactly one process


def test_each_signature_is_won_once_across_processes_on_sqlite(tmp_path: Path) -> None:
    _check(race(None, tmp_path / "seen_signatures.sqlite"))


def test_each_signature_is_won_once_across_processes_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    _check(race(postgres_url, tmp_path / "unused.sqlite"))
    store = SqlSeenSignatures(postgres_url, tmp_path / "unused.sqlite")
    assert store.claim(DIGESTS[0], int(NOW) + 300, NOW) is False  # a later process: still refused
    store.release(DIGESTS[0])
    assert store.claim(DIGESTS[0], int(NOW) + 300, NOW) is True
    store.close()


def test_a_killed_postgres_session_costs_one_request_then_reconnects(postgres_url: str,
                                                                     tmp_path: Path) -> None:
    import psycopg

    store = SqlSeenSignatures(postgres_url, tmp_path / "unused.sqlite")
    assert store.claim("a", int(NOW) + 300, NOW) is True
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (store._conn.info.backend_pid,))
    with pytest.raises(psycopg.OperationalError):
        store.claim("b", int(NOW) + 300, NOW)  # this request fails (500); nothing is claimed

    assert store.claim("a", int(NOW) + 300, NOW) is False
    assert store.claim("b", int(NOW) + 300, NOW) is True
    store.close()
