"""Commands of the delivery worker: load a queued message for sending, record the relay's answers.

Both are safe to repeat. Loading only reads. Recording the outcomes of a batch is one save
(one durable commit) for every message of it and the suppressions its hard bounces add; an
outcome for a message whose status is already final (sent, delivered, bounced, failed)
records nothing, so a redelivered queued event, or two workers racing on one message, never
adds a second outcome. A concurrent save (eventsourcing's optimistic concurrency
``IntegrityError``) is retried by the bus on freshly loaded aggregates.

A hard bounce at send time (the message's own, or one recipient's) suppresses that
recipient for every domain of the customer, as an inbound bounce report does (source
``bounce``); a soft one suppresses nobody.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any
from uuid import uuid4

from commands.suppression import check_not_suppressed
from commands.suppression import suppression_record
from event_store.aggregates import Customer
from event_store.aggregates import Message
from event_store.aggregates import Suppression
from event_store.aggregates.message import FINAL
from event_store.errors import DomainError
from security import dkim_keys

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from uuid import UUID

    from commands.bus import Bus

OUTCOMES = ("delivered", "deferred", "bounced", "failed")


@dataclass(frozen=True)
class LoadForDelivery:
    """Read a message and its sending domain's DKIM key, to render and send it."""

    message_id: UUID


@dataclass(frozen=True)
class RecipientRefusal:
    """One recipient the relay refused while the message went on (``kind``: bounced|failed)."""

    recipient: str
    kind: str
    code: int
    detail: str
    status: str | None = None
    bounce_type: str = "hard"


@dataclass(frozen=True)
class RecordDeliveryOutcome:
    """What the relay said about one attempt (the fields of ``consumers/delivery/ports.py``)."""

    message_id: UUID
    outcome: str
    code: int
    detail: str
    retry_at: datetime | None = None
    status: str | None = None
    bounce_type: str = "hard"
    recipient: str | None = None
    recipients: tuple[str, ...] = ()
    refused: tuple[RecipientRefusal, ...] = ()


@dataclass(frozen=True)
class RecordDeliveryOutcomes:
    """Record the outcomes of a batch of attempts in one durable commit."""

    outcomes: Sequence[RecordDeliveryOutcome]


@dataclass(frozen=True)
class Signing:
    """The DKIM signer inputs of a sending domain; the private key is unsealed (PEM)."""

    domain: str
    selector: str
    private_key_pem: bytes = field(repr=False)


@dataclass(frozen=True)
class Deliverable:
    """A queued message as the worker needs it; ``signing`` is None if its domain is gone."""

    message_id: UUID
    status: str
    attempts: int
    retry_at: datetime | None
    queued_at: datetime
    from_address: str
    to: str
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    reply_to: str | None
    subject: str
    html: str | None
    text: str | None
    headers: dict[str, str]
    domain: str
    track_opens: bool
    track_clicks: bool
    signing: Signing | None
    suppressed: str | None = None  # why a recipient may no longer be mailed, if one may not
    refused: tuple[str, ...] = ()  # recipients refused for good by an earlier attempt


def load_for_delivery(cmd: LoadForDelivery, bus: Bus) -> Deliverable:
    """The message, its lifecycle state and its domain's unsealed DKIM key."""
    message = bus.app.get_message(cmd.message_id, copy=False)  # read only
    return Deliverable(
        message_id=message.id, status=message.status, attempts=message.attempts,
        retry_at=message.retry_at, queued_at=message.created_on, from_address=message.from_address,
        to=message.to, cc=tuple(message.cc), bcc=tuple(message.bcc), reply_to=message.reply_to,
        subject=message.subject, html=message.html, text=message.text, headers=dict(message.headers),
        domain=message.domain, track_opens=message.track_opens, track_clicks=message.track_clicks,
        signing=_signing(message, bus), suppressed=_suppressed(message, bus),
        refused=tuple(message.refused),
    )


def _suppressed(message: Message, bus: Bus) -> str | None:
    """An unsubscribe, bounce or complaint recorded since the message was queued stops it."""
    try:  # not the recipients refused for good: our own hard bounce suppressed them
        check_not_suppressed(bus, message.customer_id,
                             message.pending_recipients([message.to, *message.cc, *message.bcc]),
                             message.domain_id)
    except DomainError as exc:
        return exc.message
    return None


def _signing(message: Message, bus: Bus) -> Signing | None:
    """The key of the message's domain (or of one re-added under its name), if it is verified."""
    customer = bus.app.get(message.customer_id, Customer, "customer", copy=False)  # read only
    domain = customer.domains.get(message.domain_id) or next(
        (d for d in customer.domains.values() if d["domain"] == message.domain), None)
    if domain is None or domain["status"] != "verified":  # DKIM only for a domain proven ours
        return None
    # A SealError (another secret key) propagates: an operator problem, not the message's.
    pem = _unsealed(bus.deps.secret_key, domain["dkim_private_sealed"], domain["id"].bytes)
    return Signing(domain["domain"], domain["dkim_selector"], pem)


@functools.lru_cache(maxsize=1024)
def _unsealed(secret_key: bytes, sealed: str, domain_id: bytes) -> bytes:
    """A domain's private key, unsealed once per process (every message of the domain needs it)."""
    return dkim_keys.unseal(secret_key, sealed, associated_data=domain_id)


def record_delivery_outcomes(cmd: RecordDeliveryOutcomes, bus: Bus) -> list[str]:
    """Append the outcomes unless final, in one save; each message's status afterwards."""
    for outcome in cmd.outcomes:
        _check(outcome)
    return _record_once(cmd.outcomes, bus)  # a concurrent save: the bus decides again


def _check(cmd: RecordDeliveryOutcome) -> None:
    if cmd.outcome not in OUTCOMES:
        raise DomainError(f"unknown delivery outcome {cmd.outcome!r}", code="internal", status=500)
    if cmd.outcome == "deferred" and cmd.retry_at is None:
        raise DomainError("a deferred outcome needs retry_at", code="internal", status=500)


def _record_once(outcomes: Sequence[RecordDeliveryOutcome], bus: Bus) -> list[str]:
    messages: dict[UUID, Message] = {}
    suppressions: dict[UUID, Suppression] = {}
    for cmd in outcomes:
        message = messages.get(cmd.message_id) or bus.app.get_message(cmd.message_id)
        messages[message.id] = message
        if message.status not in FINAL:
            for address in _apply(message, cmd):
                _suppress(bus, suppressions, message, address, cmd)
    bus.app.save(*messages.values(), *suppressions.values())
    return [str(messages[cmd.message_id].status) for cmd in outcomes]


def _apply(message: Message, cmd: RecordDeliveryOutcome) -> list[str]:
    """Trigger the attempt's events; the recipients its hard bounces suppress."""
    hard = []
    for refused in cmd.refused:
        if refused.kind == "bounced":
            if message.record_recipient_bounce(refused.recipient, refused.bounce_type, refused.code,
                                               refused.status, refused.detail) \
                    and refused.bounce_type == "hard":
                hard.append(refused.recipient)
        else:
            message.record_recipient_failed(refused.recipient, refused.code, refused.detail)
    if cmd.outcome == "delivered":
        message.record_delivered(cmd.code, cmd.detail, list(cmd.recipients))
    elif cmd.outcome == "deferred" and cmd.retry_at is not None:
        message.record_deferred(cmd.code, cmd.detail, cmd.retry_at)
    elif cmd.outcome == "failed":
        message.record_failed(cmd.code, cmd.detail)
    elif cmd.outcome == "bounced" and message.record_bounce(
            cmd.bounce_type, cmd.code, cmd.status, cmd.detail, "smtp", recipient=cmd.recipient) \
            and cmd.bounce_type == "hard" and cmd.recipient is not None:
        hard.append(cmd.recipient)
    return hard


def _suppress(bus: Bus, records: dict[UUID, Suppression], message: Message, address: str,
              cmd: RecordDeliveryOutcome) -> None:
    key = Suppression.create_id(message.customer_id, address)
    record = records.get(key) or suppression_record(bus, message.customer_id, address)
    records[key] = record
    reason = next((r.detail for r in cmd.refused if r.recipient == address), cmd.detail)
    record.add(uuid4(), None, "bounce", reason, message.id)


HANDLERS: dict[type, Callable[[Any, Any], Any]] = {
    LoadForDelivery: load_for_delivery,
    RecordDeliveryOutcomes: record_delivery_outcomes,
}
