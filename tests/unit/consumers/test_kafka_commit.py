"""A commit the group refuses while it rebalances is a replay, never a crash of the consumer."""

from __future__ import annotations

from typing import Any

import pytest
from kafka.errors import CommitFailedError
from kafka.errors import RebalanceInProgressError

from consumers.kafka_source import KafkaSource


class Refusing:
    """A consumer whose commit raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.asked: list[Any] = []

    def commit(self, offsets: Any) -> None:
        self.asked.append(offsets)
        raise self.error


@pytest.mark.parametrize("error", [CommitFailedError(), RebalanceInProgressError()])
def test_a_refused_commit_is_logged_not_raised(error: Exception, caplog: pytest.LogCaptureFixture) -> None:
    source = KafkaSource.__new__(KafkaSource)  # no broker: only commit() is exercised
    source.topic, source._consumer = "events", Refusing(error)  # noqa: SLF001
    source.commit({0: 42})
    assert len(source._consumer.asked) == 1  # noqa: SLF001
    assert "commit refused by a rebalance" in caplog.text


def test_another_commit_error_still_raises() -> None:
    source = KafkaSource.__new__(KafkaSource)
    source.topic, source._consumer = "events", Refusing(RuntimeError("broker gone"))  # noqa: SLF001
    with pytest.raises(RuntimeError, match="broker gone"):
        source.commit({0: 42})
