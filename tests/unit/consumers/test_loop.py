from __future__ import annotations

import threading

import pytest

from consumers import loop
from tests.fakes import InMemoryBroker
from tests.fakes import ListDeadLetters
from tests.fakes import RecordingSink
from tests.helpers import envelope


class StopAfter(threading.Event):
    """Stops the loop after a number of checks, so every loop is bounded."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.left = checks

    def is_set(self) -> bool:
        self.left -= 1
        return self.left < 0


SMALL = loop.Limits(max_records=2, max_wait_s=0.0)


def _run(broker: InMemoryBroker, sink: RecordingSink, dead: ListDeadLetters,
         limits: loop.Limits = SMALL, checks: int = 5) -> None:
    loop.run(broker, sink, dead, limits, StopAfter(checks))


def test_commit_follows_the_write_of_the_same_batch() -> None:
    broker, sink, dead = InMemoryBroker(partitions=1), RecordingSink(), ListDeadLetters()
    for position in (1, 2, 3):
        broker.produce(0, envelope("queued", position).to_json())
    _run(broker, sink, dead)
    assert [[e.position for e in b] for b in sink.batches] == [[1, 2], [3]]
    assert broker.commits == [{0: 2}, {0: 3}]


def test_sink_failure_commits_nothing_and_a_restart_replays_the_batch() -> None:
    broker, sink, dead = InMemoryBroker(partitions=1), RecordingSink(), ListDeadLetters()
    broker.produce(0, envelope("opened", 7).to_json())
    sink.fail = True
    with pytest.raises(RuntimeError, match="sink down"):
        _run(broker, sink, dead)
    assert broker.commits == []
    sink.fail = False
    broker.restart()
    _run(broker, sink, dead)
    assert [[e.position for e in b] for b in sink.batches] == [[7]]
    assert broker.committed == {0: 1}


def test_undecodable_and_unknown_records_go_to_dead_letters_before_the_commit() -> None:
    broker, sink, dead = InMemoryBroker(partitions=2), RecordingSink(), ListDeadLetters()
    broker.produce(0, b"not json")
    broker.produce(1, envelope("teleported", 5).to_json())
    broker.produce(1, envelope("clicked", 6).to_json())
    _run(broker, sink, dead, loop.Limits(max_records=10, max_wait_s=0.0))
    assert [(r.partition, r.offset, reason[:24]) for r, reason in dead.flushed] == [
        (0, 0, "not JSON: invalid litera"),
        (1, 0, "unknown event_type 'tele"),
    ]
    assert [e.position for b in sink.batches for e in b] == [6]
    assert broker.committed == {0: 1, 1: 2}


def test_stop_flushes_and_commits_what_was_polled() -> None:
    broker, sink, dead = InMemoryBroker(partitions=1), RecordingSink(), ListDeadLetters()
    broker.produce(0, envelope("sent", 1).to_json())
    _run(broker, sink, dead, loop.Limits(max_records=100, max_wait_s=60), checks=1)
    assert [[e.position for e in b] for b in sink.batches] == [[1]]
    assert broker.committed == {0: 1}


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionError)


class Health:
    def __init__(self) -> None:
        self.reports: list[str] = []

    def degraded(self, reason: str) -> None:
        self.reports.append(f"degraded {reason}")

    def recovered(self) -> None:
        self.reports.append("recovered")


FAST = loop.Resilience(transient=_transient, first_s=0.0, max_s=0.0)


def test_records_of_a_partition_revoked_mid_batch_are_never_written_nor_committed() -> None:
    broker, sink, dead = InMemoryBroker(partitions=2), RecordingSink(), ListDeadLetters()
    for position in (1, 2):
        broker.produce(0, envelope("queued", position).to_json())
        broker.produce(1, envelope("queued", 10 + position).to_json())
    polls = {"n": 0}

    def second_poll_rebalances() -> None:
        polls["n"] += 1
        if polls["n"] == 2:
            broker.rebalance({1})  # partition 1 leaves during the second poll, then comes back

    broker.on_poll.append(second_poll_rebalances)
    limits = loop.Limits(max_records=100, max_wait_s=60)
    loop.run(broker, sink, dead, limits, StopAfter(3))
    # The first poll read 1, 2, 11, 12; the revocation seen after the second poll dropped 11 and
    # 12 before any write; the third read partition 1 again from its commit (none): nothing is
    # written twice, nothing is skipped.
    assert sorted(e.position for b in sink.batches for e in b) == [1, 2, 11, 12]
    assert [sorted(e.position for e in b) for b in sink.batches] == [[1, 2, 11, 12]]
    assert broker.committed == {0: 2, 1: 2}


def test_revoked_partition_offsets_are_not_committed_by_the_old_owner() -> None:
    batch = loop.Batch(0.0)
    broker, dead = InMemoryBroker(partitions=2), ListDeadLetters()
    broker.produce(0, envelope("queued", 1).to_json())
    broker.produce(1, envelope("queued", 2).to_json())
    loop.add(batch, broker.poll(10, 0), dead)
    assert batch.drop({1, 5}) == 1
    assert [e.position for e in batch.envelopes] == [1]
    assert batch.partitions == [0]
    assert batch.next_offsets == {0: 1}


def test_a_transient_write_failure_is_retried_with_the_same_batch_and_committed_once() -> None:
    broker, sink, dead = InMemoryBroker(partitions=1), RecordingSink(), ListDeadLetters()
    broker.produce(0, envelope("queued", 1).to_json())
    sink.failing_writes = 3
    health = Health()
    resilience = loop.Resilience(transient=_transient, health=health, first_s=0.0, max_s=0.0)
    loop.run(broker, sink, dead, loop.Limits(max_records=1, max_wait_s=0.0), StopAfter(6), resilience)
    assert [[e.position for e in b] for b in sink.batches] == [[1]]
    assert broker.commits == [{0: 1}]
    assert health.reports == ["degraded sink write: ConnectionError: sink unreachable"] * 3 + ["recovered"]


def test_a_failing_poll_is_retried_and_a_failed_commit_is_carried_to_the_next() -> None:
    broker, sink, dead = InMemoryBroker(partitions=2), RecordingSink(), ListDeadLetters()
    broker.produce(0, envelope("queued", 1).to_json())
    broker.produce(1, envelope("queued", 2).to_json())
    broker.failing_polls = 2
    broker.failing_commits = 1
    loop.run(broker, sink, dead, loop.Limits(max_records=1, max_wait_s=0.0), StopAfter(6), FAST)
    assert [[e.position for e in b] for b in sink.batches] == [[1], [2]]
    assert broker.commits == [{0: 1, 1: 1}]  # the first commit failed; the second carried it


def test_a_write_still_failing_when_stopped_commits_nothing_and_returns() -> None:
    broker, sink, dead = InMemoryBroker(partitions=1), RecordingSink(), ListDeadLetters()
    broker.produce(0, envelope("queued", 1).to_json())
    sink.failing_writes = 100
    stop = threading.Event()
    stop.set()
    broker_poll = broker.poll(10, 0)
    batch = loop.Batch(0.0)
    loop.add(batch, broker_poll, dead)
    with pytest.raises(loop.Stopped, match="sink write still failing when stopped"):
        loop.flush(batch, broker, sink, dead, FAST, stop)
    assert sink.failing_writes == 100 - FAST.final_attempts
    assert broker.commits == []


def test_a_failure_that_is_not_transient_propagates_at_once() -> None:
    broker, sink, dead = InMemoryBroker(partitions=1), RecordingSink(), ListDeadLetters()
    broker.produce(0, envelope("queued", 1).to_json())
    sink.fail = True
    with pytest.raises(RuntimeError, match="sink down"):
        loop.run(broker, sink, dead, loop.Limits(max_records=1, max_wait_s=0.0), StopAfter(3), FAST)
    assert broker.commits == []


def test_backoff_grows_and_is_capped() -> None:
    resilience = loop.Resilience(first_s=0.2, factor=2.0, max_s=1.0)
    assert [resilience.delay(n) for n in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
