"""The durable retry schedule on its real databases: the SQLite file and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from consumers.delivery.retry_store import RetryStore

NOW = datetime(2026, 3, 15, 14, 30, 0, 123000, tzinfo=UTC)
LEASE = timedelta(minutes=5)
S = timedelta(seconds=1)

Opener = Callable[[], RetryStore]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens a new store (a new connection, as another process would) on one database."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return lambda: RetryStore.open(url, tmp_path / "events.sqlite")


def test_entries_are_upserted_kept_unless_present_and_deleted(opener: Opener) -> None:
    store, message_id = opener(), uuid4()

    store.ensure(message_id, NOW)
    store.ensure(message_id, NOW + S)  # already scheduled: unchanged
    first = store.due(message_id)
    store.upsert(message_id, NOW + 2 * S)
    moved = opener().due(message_id)  # durable: seen through another connection
    store.delete(message_id)

    assert (first, moved, store.due(message_id)) == (NOW, NOW + 2 * S, None)


def test_a_claim_takes_due_entries_in_order_and_hides_them_for_the_lease(opener: Opener) -> None:
    store, other = opener(), opener()
    late, early, future = uuid4(), uuid4(), uuid4()
    store.upsert(late, NOW)
    store.upsert(early, NOW - S)
    store.upsert(future, NOW + S)

    claimed = store.claim_due(NOW, 10, LEASE)

    assert claimed == [early, late]
    assert other.claim_due(NOW + LEASE - S, 10, LEASE) == [future]
    assert store.due(early) == NOW + LEASE
    assert sorted(other.claim_due(NOW + LEASE, 10, LEASE)) == sorted([early, late])  # lease over


def test_a_claim_is_bounded_and_released_entries_are_due_again(opener: Opener) -> None:
    store = opener()
    ids = [uuid4() for _ in range(5)]
    for offset, message_id in enumerate(ids):
        store.upsert(message_id, NOW - (5 - offset) * S)

    claimed = store.claim_due(NOW, 3, LEASE)
    store.release(claimed[1:], NOW)
    store.release([ids[4]], NOW)  # never claimed by this store: untouched

    assert claimed == ids[:3]
    assert opener().claim_due(NOW, 10, LEASE) == [ids[3], ids[4], ids[1], ids[2]]


def test_concurrent_claimers_never_take_the_same_entry(opener: Opener) -> None:
    setup = opener()
    ids = [uuid4() for _ in range(40)]
    for message_id in ids:
        setup.upsert(message_id, NOW)
    stores = [opener() for _ in range(4)]
    taken: list[list[object]] = [[] for _ in stores]

    def claim(index: int) -> None:
        while batch := stores[index].claim_due(NOW, 3, LEASE):
            taken[index] += batch

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    everything = [message_id for batch in taken for message_id in batch]
    assert sorted(map(str, everything)) == sorted(map(str, ids))


@pytest.mark.postgres
def test_processes_starting_together_create_the_table_once(postgres_url: str, tmp_path: Path) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        barrier.wait(10)
        try:
            RetryStore.open(postgres_url, tmp_path / "unused.sqlite").close()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
