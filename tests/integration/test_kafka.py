"""The Kafka adapters against a real broker: publisher, consumer-group source, dead letters."""

from __future__ import annotations

import json
import time
from uuid import uuid4

import pytest
from kafka import KafkaConsumer

from consumers.kafka_source import KafkaDeadLetters
from consumers.kafka_source import KafkaSource
from consumers.records import Record
from event_store.envelope import Envelope
from event_store.kafka_publisher import KafkaPublisher
from event_store.kafka_publisher import ensure_topics
from tests.helpers import envelope

pytestmark = pytest.mark.kafka


@pytest.fixture
def topic(bootstrap: str) -> str:
    name = f"ml-test-{uuid4().hex[:8]}"
    ensure_topics(bootstrap, [name], partitions=3)
    return name


def _drain(source: KafkaSource, want: int, seconds: float = 30) -> list[Record]:
    records: list[Record] = []
    deadline = time.monotonic() + seconds
    while len(records) < want and time.monotonic() < deadline:
        records += source.poll(1000, 0.5)
    return records


def test_published_envelopes_arrive_once_per_group_and_commits_hold(bootstrap: str, topic: str) -> None:
    email_ids = [uuid4() for _ in range(4)]
    sent = [envelope("queued", i + 1, email_id=email_ids[i % 4]) for i in range(40)]
    publisher = KafkaPublisher(bootstrap, topic)
    publisher.publish(sent)
    publisher.close()

    source = KafkaSource(bootstrap, topic, group=f"g-{uuid4().hex[:6]}")
    records = _drain(source, 40)
    got = [Envelope.from_json(r.value) for r in records]
    assert sorted(e.position for e in got) == list(range(1, 41))
    for email_id in email_ids:  # one message's events: one partition, in log order
        mine = [r for r in records if Envelope.from_json(r.value).email_id == email_id]
        assert len({r.partition for r in mine}) == 1
        assert [Envelope.from_json(r.value).position for r in mine] == sorted(
            Envelope.from_json(r.value).position for r in mine)
    next_offsets: dict[int, int] = {}
    for record in records:
        next_offsets[record.partition] = max(next_offsets.get(record.partition, 0), record.offset + 1)
    source.commit(next_offsets)
    group = source._consumer.config["group_id"]
    source.close()

    again = KafkaSource(bootstrap, topic, group=group)
    assert _drain(again, 1, seconds=5) == []
    again.close()


def test_uncommitted_records_are_redelivered_to_the_next_member(bootstrap: str, topic: str) -> None:
    publisher = KafkaPublisher(bootstrap, topic)
    publisher.publish([envelope("opened", i) for i in range(1, 6)])
    publisher.close()
    group = f"g-{uuid4().hex[:6]}"
    first = KafkaSource(bootstrap, topic, group=group)
    assert len(_drain(first, 5)) == 5
    first.close()  # crashed before committing
    second = KafkaSource(bootstrap, topic, group=group)
    assert sorted(Envelope.from_json(r.value).position for r in _drain(second, 5)) == [1, 2, 3, 4, 5]
    second.close()


def test_a_member_whose_rebalance_never_ends_rejoins_and_reads_from_the_last_commits(
        bootstrap: str, topic: str) -> None:
    publisher = KafkaPublisher(bootstrap, topic)
    publisher.publish([envelope("opened", i) for i in range(1, 31)])
    publisher.close()
    source = KafkaSource(bootstrap, topic, group=f"g-{uuid4().hex[:6]}", rejoin_patience_s=0.5)
    first = _drain(source, 30)
    assert sorted(Envelope.from_json(r.value).position for r in first) == list(range(1, 31))
    committed = {r.partition for r in first if r.partition == first[0].partition}.pop()
    source.commit({committed: 1 + max(r.offset for r in first if r.partition == committed)})
    stuck = source._consumer  # noqa: SLF001
    # What kafka-python 3.0.12 sometimes does: a revocation no assignment ever follows.
    source._revocations.on_partitions_revoked(stuck.assignment())  # noqa: SLF001
    assert source.revoked() == frozenset({0, 1, 2})  # the loop drops what it held of them
    time.sleep(0.6)
    again: list[Record] = []
    deadline = time.monotonic() + 30
    want = sum(1 for r in first if r.partition != committed)
    while len(again) < want and time.monotonic() < deadline:  # as the loop: poll, then drop revoked
        polled = source.poll(1000, 0.5)
        taken = source.revoked()
        again += [r for r in polled if r.partition not in taken]
    assert source._consumer is not stuck  # noqa: SLF001  a new member
    assert sorted(Envelope.from_json(r.value).position for r in again) == sorted(
        Envelope.from_json(r.value).position for r in first if r.partition != committed)
    assert _drain(source, 1, seconds=3) == []  # nothing read twice
    source.close()


def test_dead_letters_keep_the_bytes_origin_and_reason(bootstrap: str, topic: str) -> None:
    dlq = f"{topic}.dlq"
    dead = KafkaDeadLetters(bootstrap, dlq)
    dead.send(Record(topic, 2, 17, b"\x00garbage"), "not JSON")
    dead.flush()
    dead.close()
    reader = KafkaConsumer(dlq, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                           consumer_timeout_ms=10000)
    [message] = [m for _, m in zip(range(1), reader, strict=False)]
    reader.close()
    headers = dict(message.headers)
    assert message.value == b"\x00garbage"
    assert json.loads(headers["origin"]) == {"topic": topic, "partition": 2, "offset": 17}
    assert headers["reason"] == b"not JSON"
