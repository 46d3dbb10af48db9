"""The relay across broker outages, on a real Apache Kafka broker of the test's own.

The broker is killed while the relay runs and events keep being appended, then started again:
the relay publishes again within two seconds of the broker answering metadata requests, and
the topic holds every published event of the log, each message's events in one partition in
log order (the contract in ``event_store/relay.py``). The broker is private to the test
(``tests/support/kafka_broker.py``) so that nothing else using the shared one sees an outage.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from commands.messages import RecordOpen
from commands.messages import SendEmail
from event_store import relay
from event_store.application import EmailEvents
from event_store.envelope import Envelope
from event_store.feed import NotificationFeed
from event_store.kafka_publisher import KafkaPublisher
from event_store.kafka_publisher import ensure_topics
from tests.helpers import bus_for
from tests.helpers import envelope
from tests.helpers import new_customer
from tests.support.kafka_broker import KafkaBroker

pytestmark = pytest.mark.kafka

TOPIC = "events"
RESUME_BOUND_S = 2.0
# The second outage outlasts one publish attempt (delivery timeout 5 s): the relay discards that
# producer and builds new ones while the broker is away.
OUTAGES_S = (1.0, 5.0)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    with KafkaBroker(tmp_path / "kafka") as running:
        yield running


def _sender(app: EmailEvents) -> Callable[[int], None]:
    bus = bus_for(app)
    customer, _ = new_customer(bus, "acme.test")
    sent = [0]

    def send(count: int) -> None:
        """``count`` messages, each queued then opened twice (three events keyed by the message)."""
        for _ in range(count):
            message = bus.handle(SendEmail(customer.id, f"r{sent[0]}@x.test", "Hi", None, "t"))
            for _ in range(2):
                bus.handle(RecordOpen(message.id, "Mozilla/5.0", "192.0.2.1"))
            sent[0] += 1

    return send


def _caught_up(feed: NotificationFeed, seconds: float = 30.0) -> float:
    deadline = time.monotonic() + seconds
    while feed.position(relay.READER) < feed.head():
        assert time.monotonic() < deadline, "the relay did not catch up"
        time.sleep(0.005)
    return time.monotonic()


def _topic(bootstrap: str) -> list[tuple[int, Envelope]]:
    consumer = KafkaConsumer(TOPIC, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=3000)
    try:
        return [(r.partition, Envelope.from_json(r.value)) for r in consumer]
    finally:
        consumer.close()


def test_relay_publishes_again_within_two_seconds_of_the_broker_returning(broker: KafkaBroker) -> None:
    ensure_topics(broker.bootstrap, [TOPIC], 3)
    app = EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    send, feed, stop = _sender(app), NotificationFeed(app), threading.Event()
    thread = threading.Thread(target=relay.run, args=(feed, KafkaPublisher(broker.bootstrap, TOPIC), stop),
                              daemon=True)
    thread.start()
    resumed: list[float] = []
    try:
        send(5)
        _caught_up(feed)
        for outage_s in OUTAGES_S:
            broker.stop()
            send(5)  # appended while the broker is away: the API never waits for Kafka
            time.sleep(outage_s)
            assert feed.position(relay.READER) < feed.head()
            answered_at = broker.start()
            resumed.append(_caught_up(feed) - answered_at)
    finally:
        stop.set()
        thread.join(timeout=15)
    print(f"relay resumed {', '.join(f'{s:.3f}' for s in resumed)} s after the broker answered "
          f"(outages of {', '.join(f'{s:.0f}' for s in OUTAGES_S)} s plus the restart)")
    assert not thread.is_alive()
    assert max(resumed) < RESUME_BOUND_S
    # every failed attempt's producer was stopped, none left to send its page after the retry's
    assert [t for t in threading.enumerate() if type(t).__name__ == "Sender"] == []

    published = [e.position for e in NotificationFeed(app).read(0, 1000).envelopes]
    records = _topic(broker.bootstrap)
    assert len(published) == 15 * 3
    assert sorted({e.position for _, e in records}) == published  # nothing lost
    by_message: dict[object, list[tuple[int, int]]] = {}
    for partition, record in records:
        by_message.setdefault(record.email_id, []).append((partition, record.position))
    assert len(by_message) == 15
    for placed in by_message.values():  # one message: one partition, first copies in log order
        assert len({partition for partition, _ in placed}) == 1
        firsts = list(dict.fromkeys(position for _, position in placed))
        assert firsts == sorted(firsts)


def test_a_discarded_producer_never_sends_its_records_after_the_broker_returns(
        broker: KafkaBroker) -> None:
    """A failed attempt can leave records unsent; they must die with its producer, else they
    would reach the topic after the retry's copies and the events that follow them."""
    ensure_topics(broker.bootstrap, [TOPIC], 1)
    publisher = KafkaPublisher(broker.bootstrap, TOPIC)
    publisher.publish([envelope("queued", 1)])
    broker.stop()
    publisher._producer.send(TOPIC, value=envelope("queued", 2).to_json())  # noqa: SLF001 - left pending
    publisher.close()  # what publish() does after a failure
    assert [t for t in threading.enumerate() if type(t).__name__ == "Sender"] == []
    broker.start()
    time.sleep(1.0)  # a surviving producer reconnects within 0.25 s
    assert [e.position for _, e in _topic(broker.bootstrap)] == [1]
