from __future__ import annotations

from collections.abc import Sequence

import pytest

from commands.messages import SendEmail
from event_store import relay
from event_store.application import EmailEvents
from event_store.envelope import Envelope
from event_store.feed import NotificationFeed
from tests.helpers import bus_for
from tests.helpers import new_customer


class Publisher:
    def __init__(self) -> None:
        self.published: list[Envelope] = []
        self.fail = False

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        if self.fail:
            raise relay.PublishError("broker down")
        self.published += envelopes

    def close(self) -> None:
        pass


@pytest.fixture
def app() -> EmailEvents:
    return EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def _send(app: EmailEvents, count: int) -> list[str]:
    bus = bus_for(app)
    customer, _ = new_customer(bus, "acme.test")
    return [str(bus.handle(SendEmail(customer.id, f"r{i}@x.test", "Hi", None, "t")).id)
            for i in range(count)]


def test_relay_publishes_only_public_events_then_records_its_position(app: EmailEvents) -> None:
    ids = _send(app, 3)
    feed, publisher = NotificationFeed(app), Publisher()
    assert relay.relay_once(feed, publisher, batch_size=100) == 7  # customer, domain, key, claim, 3 messages
    assert [str(e.email_id) for e in publisher.published] == ids
    assert [e.event_type for e in publisher.published] == ["queued"] * 3
    assert feed.position(relay.READER) == 7
    assert relay.relay_once(feed, publisher, batch_size=100) == 0


def test_failed_publish_records_nothing_and_the_retry_publishes_the_same_events(
    app: EmailEvents,
) -> None:
    _send(app, 2)
    feed, publisher = NotificationFeed(app), Publisher()
    publisher.fail = True
    with pytest.raises(relay.PublishError):
        relay.relay_once(feed, publisher, batch_size=100)
    assert feed.position(relay.READER) == 0
    publisher.fail = False
    relay.relay_once(feed, publisher, batch_size=100)
    assert [e.position for e in publisher.published] == [5, 6]


def test_pages_follow_the_batch_size_in_log_order(app: EmailEvents) -> None:
    _send(app, 4)
    feed, publisher = NotificationFeed(app), Publisher()
    moved = [relay.relay_once(feed, publisher, batch_size=2) for _ in range(5)]
    assert moved == [2, 2, 2, 2, 0]
    assert [e.position for e in publisher.published] == [5, 6, 7, 8]
