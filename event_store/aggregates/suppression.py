"""Suppression: whom a customer must not mail, per recipient address.

One aggregate per (customer, address), so the send path answers "is this recipient
suppressed?" with one lookup by id, and every change is an event. An entry's scope is
global (``None``: all the customer's domains) or one sending domain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL
from uuid import UUID
from uuid import uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.domain import event

from event_store.errors import Conflict
from event_store.errors import NotFound

UNSUBSCRIBE_SOURCES = ("link", "one-click", "api", "manual")
AUTOMATIC_SOURCES = ("bounce", "complaint")


class Suppression(Aggregate):
    """The suppression entries of one recipient address of one customer."""

    class Started(Aggregate.Created):
        customer_id: UUID
        email: str

    class Added(Aggregate.Event):
        customer_id: UUID
        email: str
        entry_id: UUID
        domain_id: UUID | None
        source: str
        reason: str | None
        email_id: UUID | None

    class Removed(Aggregate.Event):
        customer_id: UUID
        email: str
        domain_id: UUID | None

    @staticmethod
    def create_id(customer_id: UUID, email: str) -> UUID:
        """The id of a customer's suppression record for an address (case-insensitive)."""
        return uuid5(NAMESPACE_URL, f"/mailerlogic/suppressions/{customer_id}/{email.lower()}")

    @classmethod
    def start(cls, customer_id: UUID, email: str) -> Suppression:
        """An empty record for an address."""
        return cls._create(cls.Started, id=cls.create_id(customer_id, email), customer_id=customer_id,
                           email=email.lower())

    @event(Started)
    def __init__(self, customer_id: UUID, email: str) -> None:
        self.customer_id, self.email = customer_id, email
        self.entries: dict[UUID | None, dict[str, Any]] = {}

    def blocks(self, domain_id: UUID | None) -> dict[str, Any] | None:
        """The entry that blocks mail from ``domain_id`` (a global one first), if any."""
        return self.entries.get(None) or (self.entries.get(domain_id) if domain_id else None)

    def add(self, entry_id: UUID, domain_id: UUID | None, source: str, reason: str | None,
            email_id: UUID | None = None, *, strict: bool = False) -> bool:
        """Suppress; False (or :class:`Conflict` when ``strict``) if already suppressed there."""
        if self.blocks(domain_id) is not None:
            if strict:
                raise Conflict(f"{self.email} is already unsubscribed", code="already_unsubscribed")
            return False
        self._added(customer_id=self.customer_id, email=self.email, entry_id=entry_id,
                    domain_id=domain_id, source=source, reason=reason, email_id=email_id)
        return True

    @event(Added)
    def _added(self, customer_id: UUID, email: str, entry_id: UUID, domain_id: UUID | None,
               source: str, reason: str | None, email_id: UUID | None) -> None:
        self.entries[domain_id] = {"id": entry_id, "email": email, "domain_id": domain_id,
                                   "source": source, "reason": reason, "created_at": self._now()}

    def remove(self, domain_id: UUID | None) -> None:
        """Re-subscribe in one scope; :class:`NotFound` when there is no such entry."""
        if domain_id not in self.entries:
            raise NotFound(f"{self.email} is not unsubscribed here")
        self._removed(customer_id=self.customer_id, email=self.email, domain_id=domain_id)

    @event(Removed)
    def _removed(self, customer_id: UUID, email: str, domain_id: UUID | None) -> None:
        del self.entries[domain_id]

    def _now(self) -> datetime:
        return self.modified_on
