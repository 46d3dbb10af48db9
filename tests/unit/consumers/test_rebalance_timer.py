"""The rebalance timer of the Kafka source: from a revocation until the next assignment."""

from __future__ import annotations

from kafka.structs import TopicPartition

from consumers.kafka_source import Revocations


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_timer_runs_from_the_first_revocation_until_an_assignment() -> None:
    clock = Clock()
    revocations = Revocations("events", clock=clock)
    assert revocations.rebalancing_for() == 0.0
    revocations.on_partitions_revoked([TopicPartition("events", 0), TopicPartition("other", 1)])
    clock.now = 103.5
    revocations.on_partitions_lost([TopicPartition("events", 2)])  # a second one keeps the start
    clock.now = 107.0
    assert revocations.rebalancing_for() == 7.0
    assert revocations.take() == frozenset({0, 2})  # only this topic's partitions
    assert revocations.rebalancing_for() == 7.0  # taking the partitions does not end the rebalance
    revocations.on_partitions_assigned([TopicPartition("events", 0)])
    assert revocations.rebalancing_for() == 0.0
    assert revocations.take() == frozenset()
