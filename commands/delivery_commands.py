"""Commands of the delivery worker: load a queued message for sending, record the relay's answer.

Both are safe to repeat. Loading only reads. Recording an outcome for a message whose
status is already final (sent, bounced, failed) records nothing, so a redelivered queued
event, or two workers racing on one message, never adds a second outcome. A concurrent
save (eventsourcing's optimistic concurrency ``IntegrityError``) is retried on a freshly
loaded aggregate a few times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

from eventsourcing.persistence import IntegrityError

from commands import dkim_keys
from commands.suppression_handlers import check_not_suppressed
from event_store.aggregates import Customer
from event_store.aggregates import Message
from event_store.aggregates.message import FINAL
from event_store.errors import DomainError

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    from commands.bus import Bus

OUTCOMES = ("sent", "deferred", "bounced", "failed")
SAVE_ATTEMPTS = 5


@dataclass(frozen=True)
class LoadForDelivery:
    """Read a message and its sending domain's DKIM key, to render and send it."""

    message_id: UUID


@dataclass(frozen=True)
class RecordDeliveryOutcome:
    """Record what the relay said about one attempt (``status`` is a bounce's enhanced code)."""

    message_id: UUID
    outcome: str
    code: int
    detail: str
    retry_at: datetime | None = None
    status: str | None = None


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


def load_for_delivery(cmd: LoadForDelivery, bus: Bus) -> Deliverable:
    """The message, its lifecycle state and its domain's unsealed DKIM key."""
    message = bus.app.get_message(cmd.message_id)
    return Deliverable(
        message_id=message.id, status=message.status, attempts=message.attempts,
        retry_at=message.retry_at, queued_at=message.created_on, from_address=message.from_address,
        to=message.to, cc=tuple(message.cc), bcc=tuple(message.bcc), reply_to=message.reply_to,
        subject=message.subject, html=message.html, text=message.text, headers=dict(message.headers),
        domain=message.domain, track_opens=message.track_opens, track_clicks=message.track_clicks,
        signing=_signing(message, bus), suppressed=_suppressed(message, bus),
    )


def _suppressed(message: Message, bus: Bus) -> str | None:
    """An unsubscribe, bounce or complaint recorded since the message was queued stops it."""
    try:
        check_not_suppressed(bus, message.customer_id, [message.to, *message.cc, *message.bcc],
                             message.domain_id)
    except DomainError as exc:
        return exc.message
    return None


def _signing(message: Message, bus: Bus) -> Signing | None:
    """The key of the message's domain, or of a domain re-added under the same name."""
    customer = bus.app.get(message.customer_id, Customer, "customer")
    domain = customer.domains.get(message.domain_id) or next(
        (d for d in customer.domains.values() if d["domain"] == message.domain), None)
    if domain is None:
        return None
    # A SealError (another secret key) propagates: an operator problem, not the message's.
    pem = dkim_keys.unseal(bus.deps.secret_key, domain["dkim_private_sealed"],
                           associated_data=domain["id"].bytes)
    return Signing(domain["domain"], domain["dkim_selector"], pem)


def record_delivery_outcome(cmd: RecordDeliveryOutcome, bus: Bus) -> str:
    """Append the outcome unless the message is already final; its status afterwards."""
    if cmd.outcome not in OUTCOMES:
        raise DomainError(f"unknown delivery outcome {cmd.outcome!r}", code="internal", status=500)
    if cmd.outcome == "deferred" and cmd.retry_at is None:
        raise DomainError("a deferred outcome needs retry_at", code="internal", status=500)
    for _ in range(SAVE_ATTEMPTS - 1):
        try:
            return _record_once(cmd, bus)
        except IntegrityError:
            continue  # another writer appended first: decide again on the new state
    return _record_once(cmd, bus)


def _record_once(cmd: RecordDeliveryOutcome, bus: Bus) -> str:
    message = bus.app.get_message(cmd.message_id)
    if message.status not in FINAL:
        _apply(message, cmd)
        bus.app.save(message)
    return str(message.status)


def _apply(message: Message, cmd: RecordDeliveryOutcome) -> None:
    if cmd.outcome == "sent":
        message.record_sent(cmd.code, cmd.detail)
    elif cmd.outcome == "deferred" and cmd.retry_at is not None:
        message.record_deferred(cmd.code, cmd.detail, cmd.retry_at)
    elif cmd.outcome == "failed":
        message.record_failed(cmd.code, cmd.detail)
    elif cmd.outcome == "bounced":
        message.record_bounce("hard", cmd.code, cmd.status, cmd.detail, "smtp")


HANDLERS: dict[type, Callable[[Any, Any], Any]] = {
    LoadForDelivery: load_for_delivery,
    RecordDeliveryOutcome: record_delivery_outcome,
}
