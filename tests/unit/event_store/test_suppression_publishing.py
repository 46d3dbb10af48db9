"""Suppression entries on the wire: unsubscribed, suppressed (automatic) and resubscribed.

The new internal types feed the unsubscribe list only: the webhooks consumer and the
delivery worker ignore them (the statistics are checked on both ClickHouse backends in
tests/integration/test_unsubscribes_list.py).
"""

from __future__ import annotations

from uuid import UUID
from uuid import uuid4

import pytest

from consumers.delivery.worker import DeliverySink
from consumers.webhooks.payload import EVENT_NAMES
from consumers.webhooks.payload import Endpoint
from consumers.webhooks.payload import body
from consumers.webhooks.payload import matches
from consumers.webhooks.worker import WebhookSink
from event_store.aggregates import Suppression
from event_store.envelope import INTERNAL_EVENT_TYPES
from event_store.envelope import Envelope
from event_store.publishing import envelope_of

CUSTOMER, DOMAIN, MESSAGE = uuid4(), uuid4(), uuid4()
ENTRY = UUID(int=0xE1)


def _published(record: Suppression) -> list[Envelope]:
    envelopes = [envelope_of(event, position) for position, event in enumerate(record.collect_events(), 1)]
    return [e for e in envelopes if e is not None]


def test_an_api_unsubscribe_stays_unsubscribed_and_names_its_entry() -> None:
    record = Suppression.start(CUSTOMER, "Ada@Example.org")
    record.add(ENTRY, DOMAIN, "api", "asked by phone")
    [unsubscribed] = _published(record)
    assert (unsubscribed.event_type, unsubscribed.customer_id, unsubscribed.email_id) == (
        "unsubscribed", CUSTOMER, None)
    assert unsubscribed.payload == {"recipient": "ada@example.org", "domain_id": str(DOMAIN),
                                    "source": "api", "reason": "asked by phone",
                                    "suppression_id": str(ENTRY)}


@pytest.mark.parametrize("source", ["bounce", "complaint"])
def test_an_automatic_entry_is_published_as_suppressed(source: str) -> None:
    record = Suppression.start(CUSTOMER, "ada@example.org")
    record.add(ENTRY, None, source, "550 5.1.1 user unknown", MESSAGE)
    [suppressed] = _published(record)
    assert (suppressed.event_type, suppressed.email_id, suppressed.position) == ("suppressed", MESSAGE, 2)
    assert suppressed.payload == {"recipient": "ada@example.org", "domain_id": None, "source": source,
                                  "reason": "550 5.1.1 user unknown", "suppression_id": str(ENTRY)}


def test_a_resubscribe_is_published_with_its_scope() -> None:
    record = Suppression.start(CUSTOMER, "ada@example.org")
    record.add(uuid4(), DOMAIN, "manual", None)
    record.add(ENTRY, None, "link", None, MESSAGE)
    record.remove(DOMAIN)
    record.remove(None)
    envelopes = _published(record)
    assert [(e.event_type, e.payload.get("domain_id")) for e in envelopes] == [
        ("unsubscribed", str(DOMAIN)), ("unsubscribed", None),
        ("resubscribed", str(DOMAIN)), ("resubscribed", None)]
    resubscribed = envelopes[-1]
    assert (resubscribed.email_id, resubscribed.payload) == (
        None, {"recipient": "ada@example.org", "domain_id": None})
    assert resubscribed.key == str(CUSTOMER).encode()


def _suppression_envelopes() -> list[Envelope]:
    record = Suppression.start(CUSTOMER, "ada@example.org")
    record.add(ENTRY, None, "complaint", "abuse", MESSAGE)
    record.remove(None)
    return _published(record)


def test_the_new_types_are_internal_and_no_webhook_event() -> None:
    envelopes = _suppression_envelopes()
    assert [e.event_type for e in envelopes] == ["suppressed", "resubscribed"]
    assert {"suppressed", "resubscribed"} <= set(INTERNAL_EVENT_TYPES)
    assert {"suppressed", "resubscribed"}.isdisjoint(EVENT_NAMES)
    endpoint = Endpoint(uuid4(), "https://hooks.example.org/in", secret=b"s")
    for envelope in envelopes:
        assert matches(endpoint, envelope) is False
        with pytest.raises(ValueError, match="not delivered to customers"):
            body(envelope)


class RecordingWebhooks:
    """A webhook worker double: every customer has an endpoint; deliveries are recorded."""

    def __init__(self) -> None:
        self.store = self
        self.delivered: list[tuple[str, int]] = []

    def endpoints(self, customer_id: UUID) -> list[Endpoint]:
        return [Endpoint(uuid4(), "https://hooks.example.org/in", secret=b"s")]

    def deliver_event(self, envelope: Envelope, endpoints: list[Endpoint]) -> None:
        self.delivered.append((envelope.event_type, len(endpoints)))


class RecordingDeliverer:
    """A deliverer double recording which messages it was asked to deliver."""

    def __init__(self) -> None:
        self.delivered: list[UUID] = []

    def deliver(self, message_id: UUID) -> None:
        self.delivered.append(message_id)


def test_the_webhooks_and_delivery_consumers_ignore_them() -> None:
    envelopes = _suppression_envelopes()
    webhooks = RecordingWebhooks()
    WebhookSink(webhooks).write(envelopes)  # type: ignore[arg-type]
    assert webhooks.delivered == []
    deliverer = RecordingDeliverer()
    DeliverySink(deliverer).write(envelopes)  # type: ignore[arg-type]
    assert deliverer.delivered == []
    record = Suppression.start(CUSTOMER, "cy@example.org")
    record.add(uuid4(), None, "one-click", None, MESSAGE)
    WebhookSink(webhooks).write(_published(record))  # type: ignore[arg-type]
    assert webhooks.delivered == [("unsubscribed", 1)]  # the control: unsubscribes do go out
