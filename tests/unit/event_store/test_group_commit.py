"""Group commit: concurrent saves share a transaction; a conflict fails only its own save."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from event_store.group_commit import GroupCommit


class Store:
    """A put that records each transaction; blocks the first one until released."""

    def __init__(self, refuse: str | None = None) -> None:
        self.transactions: list[list[Any]] = []
        self.release = threading.Event()
        self.entered = threading.Event()
        self.refuse = refuse

    def put(self, events: list[Any]) -> list[Any]:
        if not self.transactions:
            self.entered.set()
            assert self.release.wait(10)
        if self.refuse in events:
            self.transactions.append(["refused", *events])
            raise ValueError(f"conflict on {self.refuse}")
        self.transactions.append(list(events))
        return [f"rec-{event}" for event in events]


def _waiters(group: GroupCommit, names: list[str]) -> tuple[list[threading.Thread], dict[str, Any]]:
    results: dict[str, Any] = {}

    def save(name: str) -> None:
        try:
            results[name] = group.save([f"{name}.1", f"{name}.2"])
        except ValueError as exc:
            results[name] = exc

    threads = [threading.Thread(target=save, args=(name,)) for name in names]
    return threads, results


def _queue_behind_first(store: Store, group: GroupCommit, names: list[str]) -> dict[str, Any]:
    """``first`` enters its transaction; ``names`` save meanwhile; then everything finishes."""
    first, results = _waiters(group, ["first"])
    first[0].start()
    assert store.entered.wait(10)
    others, later = _waiters(group, names)
    for thread in others:
        thread.start()
    for _ in range(1000):  # bounded: until every other save is queued
        with group._lock:  # noqa: SLF001 - the test observes the queue
            if len(group._waiting) == len(names):  # noqa: SLF001
                break
        threading.Event().wait(0.005)
    store.release.set()
    for thread in [*first, *others]:
        thread.join(10)
    return {**results, **later}


def test_a_lone_save_is_written_at_once_in_its_own_transaction() -> None:
    store = Store()
    store.release.set()
    group = GroupCommit(store.put)
    assert group.save(["a", "b"]) == ["rec-a", "rec-b"]
    assert store.transactions == [["a", "b"]]
    assert group.groups == 1


def test_saves_made_during_a_commit_share_the_next_transaction_in_arrival_order() -> None:
    store = Store()
    group = GroupCommit(store.put)
    results = _queue_behind_first(store, group, ["s1", "s2", "s3"])
    assert store.transactions[0] == ["first.1", "first.2"]
    assert len(store.transactions) == 2
    assert sorted(store.transactions[1]) == sorted(f"s{n}.{k}" for n in (1, 2, 3) for k in (1, 2))
    for name in ("first", "s1", "s2", "s3"):
        assert results[name] == [f"rec-{name}.1", f"rec-{name}.2"]
    assert group.groups == 2


def test_one_conflicting_save_fails_alone_and_the_others_are_committed() -> None:
    store = Store(refuse="s2.1")
    group = GroupCommit(store.put)
    results = _queue_behind_first(store, group, ["s1", "s2", "s3"])
    assert isinstance(results["s2"], ValueError)
    assert results["s1"] == ["rec-s1.1", "rec-s1.2"]
    assert results["s3"] == ["rec-s3.1", "rec-s3.2"]
    committed = [t for t in store.transactions if t[0] != "refused"]
    assert sorted(e for t in committed for e in t) == sorted(
        ["first.1", "first.2", "s1.1", "s1.2", "s3.1", "s3.2"])


def test_groups_are_capped() -> None:
    store = Store()
    group = GroupCommit(store.put, max_group=2)
    names = ["s1", "s2", "s3", "s4", "s5"]
    results = _queue_behind_first(store, group, names)
    assert [len(t) for t in store.transactions] == [2, 4, 4, 2]
    # Whichever thread leads a group, each save is written, its own recordings returned.
    for name in names:
        assert results[name] == [f"rec-{name}.1", f"rec-{name}.2"]


def test_concurrent_sends_on_sqlite_all_land(tmp_path: Path) -> None:
    from commands.messages import SendEmail
    from event_store.application import open_application
    from tests.helpers import bus_for
    from tests.helpers import new_customer

    events = open_application(None, str(tmp_path / "events.sqlite"))
    bus = bus_for(events)
    customer, _ = new_customer(bus, "acme.test")
    sent: list[Any] = []
    barrier = threading.Barrier(16)

    def send(n: int) -> None:
        barrier.wait(10)
        for k in range(10):
            sent.append(bus.handle(SendEmail(customer.id, f"u{n}-{k}@example.com", "Hi", None, "hi",
                                             domain="acme.test")).id)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(set(sent)) == 160
    stored = events.recorder_.select_notifications(1, 10_000, topics=[
        "event_store.aggregates.message:Message.Queued"])
    assert sorted(n.originator_id for n in stored) == sorted(sent)
    events.close()


def test_a_failure_that_is_not_an_exception_still_ends_the_save() -> None:
    def put(events: list[Any]) -> list[Any]:
        raise KeyboardInterrupt  # not an Exception: the group's retry loop re-raises per save

    group = GroupCommit(put)
    with pytest.raises(KeyboardInterrupt):
        group.save(["a"])
    assert not group._leading  # noqa: SLF001


def test_a_leader_whose_own_save_is_beyond_the_cap_still_writes_it() -> None:
    from event_store.group_commit import _Save

    store = Store()
    store.release.set()
    group = GroupCommit(store.put, max_group=1)
    earlier = _Save(["e.1"])  # queued by a thread that has not woken up yet
    group._waiting.append(earlier)  # noqa: SLF001
    assert group.save(["m.1"]) == ["rec-m.1"]
    assert store.transactions == [["e.1"], ["m.1"]]
    assert (earlier.done, earlier.recordings) == (True, ["rec-e.1"])
