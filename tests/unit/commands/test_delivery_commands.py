"""Delivery commands through the bus over the in-memory event store: given events -> command -> new events."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives import serialization
from eventsourcing.persistence import IntegrityError

from commands.bus import CONFLICT_ATTEMPTS
from commands.delivery import LoadForDelivery
from commands.delivery import RecipientRefusal
from commands.delivery import RecordDeliveryOutcome
from commands.delivery import RecordDeliveryOutcomes
from commands.messages import AddDomain
from commands.messages import RemoveDomain
from commands.messages import SendEmail
from event_store.aggregates import Customer
from event_store.aggregates import Message
from event_store.aggregates import Suppression
from event_store.application import EmailEvents
from event_store.errors import Conflict
from event_store.errors import DomainError
from event_store.errors import NotFound
from security import dkim_keys
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


def _record(bus: Any, *outcomes: RecordDeliveryOutcome) -> list[str]:
    statuses: list[str] = bus.handle(RecordDeliveryOutcomes(outcomes))
    return statuses


def _one(bus: Any, outcome: RecordDeliveryOutcome) -> str:
    [status] = _record(bus, outcome)
    return status


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
    bus.handle(AddDomain(customer.id, "acme.test", trusted=True))  # verified: signed
    [readded] = bus.app.get(customer.id, Customer, "customer").domains.values()

    signing = bus.handle(LoadForDelivery(message.id)).signing

    assert (signing.domain, signing.selector) == ("acme.test", readded["dkim_selector"])
    assert _public_key(signing.private_key_pem) == readded["dkim_public_key"] != next(
        iter(customer.domains.values()))["dkim_public_key"]


def test_load_of_an_unknown_message_is_not_found(bus: Any) -> None:
    with pytest.raises(NotFound):
        bus.handle(LoadForDelivery(uuid4()))


def test_deferred_then_delivered_appends_both_and_a_repeat_appends_nothing(bus: Any, customer: Any) -> None:
    message = _send(bus, customer)
    to = ("ada@example.org", "cy@example.org")

    statuses = [_one(bus, RecordDeliveryOutcome(message.id, "deferred", 451, "busy", LATER)),
                _one(bus, RecordDeliveryOutcome(message.id, "delivered", 250, "ok", recipients=to)),
                _one(bus, RecordDeliveryOutcome(message.id, "delivered", 250, "ok again", recipients=to)),
                _one(bus, RecordDeliveryOutcome(message.id, "bounced", 550, "late", status="5.1.1"))]

    deferred, delivered = _new_events(bus, message, 1)
    assert statuses == ["deferred", "delivered", "delivered", "delivered"]
    assert (type(deferred), deferred.attempt, deferred.retry_at) == (Message.Deferred, 1, LATER)
    assert (type(delivered), delivered.attempt, delivered.smtp_code, delivered.detail,
            delivered.recipients) == (Message.Delivered, 2, 250, "ok", list(to))


def test_a_hard_bounce_from_the_relay_has_source_smtp_and_suppresses_the_recipient(
        bus: Any, customer: Any) -> None:
    message = _send(bus, customer, cc=())

    assert _one(bus, RecordDeliveryOutcome(message.id, "bounced", 550, "No such user", status="5.1.1",
                                           recipient="ada@example.org")) == "bounced"

    [bounced] = _new_events(bus, message, 1)
    assert (bounced.bounce_type, bounced.smtp_code, bounced.status, bounced.diagnostic, bounced.source,
            bounced.recipient) == ("hard", 550, "5.1.1", "No such user", "smtp", "ada@example.org")
    record = bus.app.suppression(customer.id, "ada@example.org")
    assert {k: (v["source"], v["reason"]) for k, v in record.entries.items()} == {
        None: ("bounce", "No such user")}


def test_a_soft_bounce_suppresses_nobody(bus: Any, customer: Any) -> None:
    message = _send(bus, customer, cc=())

    _one(bus, RecordDeliveryOutcome(message.id, "bounced", 552, "552 5.2.2 Mailbox full", status="5.2.2",
                                    bounce_type="soft", recipient="ada@example.org"))

    [bounced] = _new_events(bus, message, 1)
    assert (bounced.bounce_type, bounced.status) == ("soft", "5.2.2")
    assert bus.app.suppression(customer.id, "ada@example.org") is None


def test_a_refused_cc_is_its_own_hard_bounce_and_only_the_cc_is_suppressed(bus: Any, customer: Any) -> None:
    message = _send(bus, customer, bcc=("bo@example.org",))
    refusal = RecipientRefusal("cy@example.org", "bounced", 550, "550 5.1.1 No such user", "5.1.1", "hard")

    status = _one(bus, RecordDeliveryOutcome(message.id, "delivered", 250, "250 ok",
                                             recipients=("ada@example.org", "bo@example.org"),
                                             refused=(refusal,)))

    bounced, delivered = _new_events(bus, message, 1)
    assert status == "delivered"
    assert (type(bounced), bounced.recipient, bounced.bounce_type, bounced.status, bounced.source) == (
        Message.RecipientBounced, "cy@example.org", "hard", "5.1.1", "smtp")
    assert (type(delivered), delivered.recipient, delivered.recipients) == (
        Message.Delivered, "ada@example.org", ["ada@example.org", "bo@example.org"])
    assert bus.app.suppression(customer.id, "cy@example.org").blocks(None)["source"] == "bounce"
    assert bus.app.suppression(customer.id, "ada@example.org") is None
    assert bus.app.suppression(customer.id, "bo@example.org") is None
    assert bus.handle(LoadForDelivery(message.id)).refused == ("cy@example.org",)


def test_a_recipient_refused_for_now_while_others_were_accepted_is_failed_soft(bus: Any,
                                                                              customer: Any) -> None:
    message = _send(bus, customer)
    refusal = RecipientRefusal("cy@example.org", "failed", 451, "451 4.2.0 busy", "4.2.0", "soft")

    _one(bus, RecordDeliveryOutcome(message.id, "delivered", 250, "ok", recipients=("ada@example.org",),
                                    refused=(refusal,)))

    failed, delivered = _new_events(bus, message, 1)
    assert (type(failed), failed.recipient, failed.smtp_code, failed.detail) == (
        Message.RecipientFailed, "cy@example.org", 451, "451 4.2.0 busy")
    assert type(delivered) is Message.Delivered
    assert bus.app.suppression(customer.id, "cy@example.org") is None


def test_a_deferred_attempt_records_its_hard_refusals_and_a_retry_is_not_suppressed_by_them(
        bus: Any, customer: Any) -> None:
    message = _send(bus, customer)
    refusal = RecipientRefusal("cy@example.org", "bounced", 550, "550 5.1.1 gone", "5.1.1", "hard")

    _one(bus, RecordDeliveryOutcome(message.id, "deferred", 451, "busy", LATER, refused=(refusal,)))

    bounced, deferred = _new_events(bus, message, 1)
    assert (type(bounced), type(deferred)) == (Message.RecipientBounced, Message.Deferred)
    found = bus.handle(LoadForDelivery(message.id))
    assert (found.status, found.refused, found.suppressed) == ("deferred", ("cy@example.org",), None)


def test_a_batch_is_one_save_and_two_bounces_of_one_address_suppress_it_once(
        bus: Any, customer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = _send(bus, customer, cc=()), _send(bus, customer, cc=())
    delivered = _send(bus, customer, cc=())
    saves: list[int] = []
    save = bus.app.save
    monkeypatch.setattr(bus.app, "save", lambda *a: saves.append(len(a)) or save(*a))

    statuses = _record(bus, *(RecordDeliveryOutcome(m.id, "bounced", 550, "gone", status="5.1.1",
                                                    recipient="ada@example.org") for m in (first, second)),
                       RecordDeliveryOutcome(delivered.id, "delivered", 250, "ok",
                                             recipients=("ada@example.org",)))

    assert statuses == ["bounced", "bounced", "delivered"]
    assert saves == [4]  # three messages and one suppression record
    record = bus.app.suppression(customer.id, "ada@example.org")
    adds = [e for e in bus.app.repository.event_store.get(record.id) if isinstance(e, Suppression.Added)]
    assert [(a.source, a.email_id) for a in adds] == [("bounce", first.id)]


def test_failed_is_final(bus: Any, customer: Any) -> None:
    message = _send(bus, customer)

    _one(bus, RecordDeliveryOutcome(message.id, "failed", 0, "budget spent"))
    _one(bus, RecordDeliveryOutcome(message.id, "delivered", 250, "ok"))

    [failed] = _new_events(bus, message, 1)
    assert (type(failed), failed.attempt, failed.detail) == (Message.Failed, 1, "budget spent")


@pytest.mark.parametrize(("outcome", "retry_at"), [("deferred", None), ("sent", None)])
def test_an_invalid_outcome_is_refused(bus: Any, customer: Any, outcome: str, retry_at: Any) -> None:
    message = _send(bus, customer)

    with pytest.raises(DomainError):
        _one(bus, RecordDeliveryOutcome(message.id, outcome, 0, "x", retry_at))
    assert _new_events(bus, message, 1) == []


def test_a_concurrent_writer_wins_and_the_outcome_is_decided_again(bus: Any, customer: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    message = _send(bus, customer)
    save = bus.app.save
    calls: list[int] = []

    def racing_save(*aggregates: Any) -> Any:
        if not calls:  # another worker records "delivered" just before us
            calls.append(1)
            other = bus.app.get_message(message.id)
            other.record_delivered(250, "other worker", ["ada@example.org"])
            save(other)
            return save(*aggregates)  # our stale version now conflicts
        calls.append(1)
        return save(*aggregates)

    monkeypatch.setattr(bus.app, "save", racing_save)
    status = _one(bus, RecordDeliveryOutcome(message.id, "deferred", 451, "busy", LATER))

    [delivered] = _new_events(bus, message, 1)
    assert (status, type(delivered), delivered.detail) == ("delivered", Message.Delivered, "other worker")


def test_a_writer_that_keeps_conflicting_gives_up(bus: Any, customer: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    message = _send(bus, customer)

    saves: list[int] = []

    def conflict(*aggregates: Any) -> Any:
        saves.append(len(aggregates))
        raise IntegrityError("conflict")

    monkeypatch.setattr(bus.app, "save", conflict)
    monkeypatch.setattr("commands.bus.CONFLICT_PAUSE_S", 0.0)
    with pytest.raises(Conflict) as refused:
        _one(bus, RecordDeliveryOutcome(message.id, "delivered", 250, "ok"))
    assert (refused.value.code, refused.value.status, saves) == ("conflict", 409, [1] * CONFLICT_ATTEMPTS)


def test_load_says_when_a_recipient_was_suppressed_after_queueing(bus: Any, customer: Any) -> None:
    from commands.suppression import Unsubscribe

    message = _send(bus, customer)
    assert bus.handle(LoadForDelivery(message.id)).suppressed is None
    bus.handle(Unsubscribe(customer.id, message.to, None, "link"))
    assert bus.handle(LoadForDelivery(message.id)).suppressed == f"{message.to} is suppressed (link)"
