"""The ports of the webhook worker: where endpoints and deliveries are kept, and what they carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Protocol

from consumers.webhooks.payload import EVENT_NAMES
from consumers.webhooks.payload import body

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    from consumers.webhooks.payload import Endpoint
    from consumers.webhooks.sender import Attempt
    from event_store.envelope import Envelope

FINAL = frozenset({"delivered", "failed"})


@dataclass(frozen=True)
class Delivery:
    """One event's delivery to one endpoint: the exact body and the attempts so far."""

    delivery_id: UUID
    customer_id: UUID
    endpoint_id: UUID
    event_id: UUID
    event_type: str  # the customer-facing name, e.g. ``email.opened``
    body: bytes
    status: str = "pending"  # or delivered, failed
    attempts: int = 0
    first_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None


def new_delivery(delivery_id: UUID, envelope: Envelope, endpoint: Endpoint) -> Delivery:
    """The not yet attempted delivery of ``envelope`` to ``endpoint``."""
    return Delivery(delivery_id, envelope.customer_id, endpoint.id, envelope.event_id,
                    EVENT_NAMES[envelope.event_type], body(envelope))


class DeliveryStore(Protocol):
    """Endpoints and deliveries as the worker sees them (the command bus in production)."""

    def delivery_id(self, endpoint_id: UUID, event_id: UUID) -> UUID:
        """The stable id of the delivery of ``event_id`` to ``endpoint_id``."""

    def endpoints(self, customer_id: UUID) -> list[Endpoint]:
        """The customer's endpoints (with secrets), the profile URL included."""

    def load(self, delivery_id: UUID) -> Delivery | None:
        """A delivery, or None if no attempt was recorded yet."""

    def record(self, delivery: Delivery, attempt: Attempt, attempted_at: datetime,
               next_attempt_at: datetime | None) -> Delivery:
        """Durably append the attempt unless the delivery is final; the delivery afterwards."""

    def abandon(self, delivery_id: UUID, reason: str) -> None:
        """Give a pending delivery up without another attempt."""
