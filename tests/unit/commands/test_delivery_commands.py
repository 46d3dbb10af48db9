"""Delivery commands through the bus over the in-memory event store: given events -> command -> new events."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives import serialization
from eventsourcing.persistence import IntegrityError

from commands import dkim_keys
from commands.delivery_commands import LoadForDelivery
from commands.delivery_commands import RecordDeliveryOutcome
from commands.messages import AddDomain
from commands.messages import RemoveDomain
from commands.messages import SendEmail
from event_store.aggregates import Customer
from event_store.aggregates import Message
from event_store.application import EmailEvents
from event_store.errors import DomainError
from event_store.errors import NotFound
from tests.helpers import bus_for
from tests.helpers import new_customer

SECRET = b"test-secret"
LATER = datetime(2026, 3, 15, 15, 0, tzinfo=UTC)


@pytest.fixture
def bus() -> Any:
    return bus_for(EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}), SECRET)


@pytest.fixture
def customer(bus: Any) -> Any:
    customer, _ = new_customer(bus, "acme.test")
    return customer


def _send(bus: Any, customer: Any, **changes: Any) -> Message:
    body: dict[str, Any] = {"to": "ada@example.org", "subject": "Hi", "html": "<p>Hi</p>", "text": "Hi",
                            "from_address": "news@acme.test", "cc": ("cy@example.org",),
                            "headers": {"X-Campaign": "spring"}, "track_opens": True} | changes
    message: Message = bus.handle(SendEmail(customer_id=customer.id, **body))
    return message


def _new_events(bus: Any, message: Message, after: int) -> list[Any]:
    return [e for e in bus.app.repository.event_store.get(message.id) if e.originator_version > after]


def test_load_gives_the_message_its_state_and_the_unsealed_dkim_key(bus: Any, customer: Any) -> None:
    message = _send(bus, customer)

    found = bus.handle(LoadForDelivery(message.id))

    domain = next(iter(customer.domains.values()))
    assert (found.message_id, found.status, found.attempts, found.retry_at) == (message.id, "queued", 0, None)
    assert (found.to, found.cc, found.from_address, found.domain) == (
        "ada@example.org", ("cy@example.org",), "news@acme.test", "acme.test")
    assert (found.headers, found.track_opens, found.track_clicks) == ({"X-Campaign": "spring"}, True, True)
    assert found.queued_at == message.created_on and found.queued_at.utcoffset() is not None
    assert (found.signing.domain, found.signing.selector) == ("acme.test", domain["dkim_selector"])
    assert _public_key(found.signing.private_key_pem) == domain["dkim_public_key"]


def _public_key(pem: bytes) -> str:
    key: Any = serialization.load_pem_private_key(pem, password=None)
    return dkim_keys.public_key_b64(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()).decode())


def test_load_of_a_message_whose_domain_was_removed_has_no_signing(bus: Any, customer: Any) -> None:
    message = _send(bus, customer)
    bus.handle(RemoveDomain(customer.id, message.domain_id))

    assert bus.handle(LoadForDelivery(message.id)).signing is None


def test_load_of_a_message_whose_domain_was_re_added_signs_with_the_new_key(bus: Any, customer: Any) -> None:
    message = _send(bus, customer)
    bus.handle(RemoveDomain(customer.id, message.domain_id))
    bus.handle(AddDomain(customer.id, "acme.test"))
    [readded] = bus.app.get(customer.id, Customer, "customer").domains.values()

    signing = bus.handle(LoadForDelivery(message.id)).signing

    assert (signing.domain, signing.selector) == ("acme.test", readded["dkim_selector"])
    assert _public_key(signing.private_key_pem) == readded["dkim_public_key"] != next(
        iter(customer.domains.values()))["dkim_public_key"]


def test_load_of_an_unknown_message_is_not_found(bus: Any) -> None:
    with pytest.raises(NotFound):
        bus.handle(LoadForDelivery(uuid4()))


def test_deferred_then_sent_appends_both_and_a_repeat_appends_nothing(bus: Any, customer: Any) -> None:
    message = _send(bus, customer)

    statuses = [bus.handle(RecordDeliveryOutcome(message.id, "deferred", 451, "busy", LATER)),
                bus.handle(RecordDeliveryOutcome(message.id, "sent", 250, "ok")),
                bus.handle(RecordDeliveryOutcome(message.id, "sent", 250, "ok again")),
                bus.handle(RecordDeliveryOutcome(message.id, "bounced", 550, "late", status="5.1.1"))]

    deferred, sent = _new_events(bus, message, 1)
    assert statuses == ["deferred", "sent", "sent", "sent"]
    assert (type(deferred), deferred.attempt, deferred.retry_at) == (Message.Deferred, 1, LATER)
    assert (type(sent), sent.attempt, sent.smtp_code, sent.detail) == (Message.Sent, 2, 250, "ok")


def test_a_bounce_from_the_relay_is_hard_and_its_source_is_smtp(bus: Any, customer: Any) -> None:
    message = _send(bus, customer)

    assert bus.handle(RecordDeliveryOutcome(message.id, "bounced", 550, "No such user", status="5.1.1")) \
        == "bounced"

    [bounced] = _new_events(bus, message, 1)
    assert (bounced.bounce_type, bounced.smtp_code, bounced.status, bounced.diagnostic, bounced.source) == (
        "hard", 550, "5.1.1", "No such user", "smtp")


def test_failed_is_final(bus: Any, customer: Any) -> None:
    message = _send(bus, customer)

    bus.handle(RecordDeliveryOutcome(message.id, "failed", 0, "budget spent"))
    bus.handle(RecordDeliveryOutcome(message.id, "sent", 250, "ok"))

    [failed] = _new_events(bus, message, 1)
    assert (type(failed), failed.attempt, failed.detail) == (Message.Failed, 1, "budget spent")


@pytest.mark.parametrize(("outcome", "retry_at"), [("deferred", None), ("delivered", None)])
def test_an_invalid_outcome_is_refused(bus: Any, customer: Any, outcome: str, retry_at: Any) -> None:
    message = _send(bus, customer)

    with pytest.raises(DomainError):
        bus.handle(RecordDeliveryOutcome(message.id, outcome, 0, "x", retry_at))
    assert _new_events(bus, message, 1) == []


def test_a_concurrent_writer_wins_and_the_outcome_is_decided_again(bus: Any, customer: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    message = _send(bus, customer)
    save = bus.app.save
    calls: list[int] = []

    def racing_save(*aggregates: Any) -> Any:
        if not calls:  # another worker records "sent" just before us
            calls.append(1)
            other = bus.app.get_message(message.id)
            other.record_sent(250, "other worker")
            save(other)
            return save(*aggregates)  # our stale version now conflicts
        calls.append(1)
        return save(*aggregates)

    monkeypatch.setattr(bus.app, "save", racing_save)
    status = bus.handle(RecordDeliveryOutcome(message.id, "deferred", 451, "busy", LATER))

    [sent] = _new_events(bus, message, 1)
    assert (status, type(sent), sent.detail) == ("sent", Message.Sent, "other worker")


def test_a_writer_that_keeps_conflicting_gives_up(bus: Any, customer: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    message = _send(bus, customer)

    def conflict(*aggregates: Any) -> Any:
        raise IntegrityError("conflict")

    monkeypatch.setattr(bus.app, "save", conflict)
    with pytest.raises(IntegrityError):
        bus.handle(RecordDeliveryOutcome(message.id, "sent", 250, "ok"))


def test_load_says_when_a_recipient_was_suppressed_after_queueing(bus: Any, customer: Any) -> None:
    from commands.suppression_handlers import Unsubscribe

    message = _send(bus, customer)
    assert bus.handle(LoadForDelivery(message.id)).suppressed is None
    bus.handle(Unsubscribe(customer.id, message.to, None, "link"))
    assert bus.handle(LoadForDelivery(message.id)).suppressed == f"{message.to} is suppressed (link)"
