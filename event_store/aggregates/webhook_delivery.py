"""One event's delivery to one customer webhook endpoint, every attempt recorded (spec §15).

Keyed by ``uuid5(endpoint_id, str(event_id))``, so a redelivered event finds its delivery.
The signed body is kept with the delivery: every retry sends identical bytes. A delivery is
``pending`` until an attempt succeeds (``delivered``) or the schedule gives up (``failed``);
nothing is recorded on a final delivery.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID
from uuid import uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.domain import event

from event_store.errors import DomainError

FINAL = frozenset({"delivered", "failed"})


class WebhookDelivery(Aggregate):
    """The delivery log of one event to one endpoint."""

    class Started(Aggregate.Created):
        customer_id: UUID
        endpoint_id: UUID
        event_id: UUID
        event_type: str
        body: str

    class Attempted(Aggregate.Event):
        attempt: int
        attempted_at: datetime
        status_code: int
        ok: bool
        error: str
        duration_ms: int
        response: str
        next_attempt_at: datetime | None

    class Delivered(Aggregate.Event):
        attempt: int

    class GaveUp(Aggregate.Event):
        attempts: int
        reason: str

    @staticmethod
    def create_id(endpoint_id: UUID, event_id: UUID) -> UUID:
        """The id of the delivery of ``event_id`` to ``endpoint_id``."""
        return uuid5(endpoint_id, str(event_id))

    @classmethod
    def start(cls, customer_id: UUID, endpoint_id: UUID, event_id: UUID, event_type: str,
              body: str) -> WebhookDelivery:
        """A pending delivery with no attempt yet."""
        return cls._create(cls.Started, id=cls.create_id(endpoint_id, event_id), customer_id=customer_id,
                           endpoint_id=endpoint_id, event_id=event_id, event_type=event_type, body=body)

    @event(Started)
    def __init__(self, customer_id: UUID, endpoint_id: UUID, event_id: UUID, event_type: str,
                 body: str) -> None:
        self.customer_id, self.endpoint_id, self.event_id = customer_id, endpoint_id, event_id
        self.event_type, self.body = event_type, body
        self.status = "pending"
        self.attempts = 0
        self.first_attempt_at: datetime | None = None
        self.next_attempt_at: datetime | None = None

    def record_attempt(self, attempted_at: datetime, status_code: int, ok: bool, error: str,
                       duration_ms: int, response: str, next_attempt_at: datetime | None) -> None:
        """Record one POST; a success delivers, a failure without a next attempt gives up."""
        if self.status in FINAL:
            raise DomainError(f"webhook delivery {self.id} is already {self.status}", code="internal",
                              status=500)
        self._attempted(attempt=self.attempts + 1, attempted_at=attempted_at, status_code=status_code,
                        ok=ok, error=error, duration_ms=duration_ms, response=response[:1000],
                        next_attempt_at=None if ok else next_attempt_at)
        if ok:
            self._delivered(attempt=self.attempts)
        elif next_attempt_at is None:
            self._gave_up(attempts=self.attempts, reason=f"retry schedule spent: {error}")

    def give_up(self, reason: str) -> None:
        """Stop a pending delivery without another attempt (its endpoint is gone)."""
        if self.status not in FINAL:
            self._gave_up(attempts=self.attempts, reason=reason)

    @event(Attempted)
    def _attempted(self, attempt: int, attempted_at: datetime, status_code: int, ok: bool, error: str,
                   duration_ms: int, response: str, next_attempt_at: datetime | None) -> None:
        self.attempts = attempt
        self.first_attempt_at = self.first_attempt_at or attempted_at
        self.next_attempt_at = next_attempt_at

    @event(Delivered)
    def _delivered(self, attempt: int) -> None:
        self.status, self.next_attempt_at = "delivered", None

    @event(GaveUp)
    def _gave_up(self, attempts: int, reason: str) -> None:
        self.status, self.next_attempt_at = "failed", None
