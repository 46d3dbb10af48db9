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
