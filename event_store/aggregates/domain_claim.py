"""The domain-name index: which customer holds a verified sending domain.

A domain name verified by one customer (a DNS check that passed, or an operator who vouched
for it) is held by that customer until it is removed; no other customer may add it, verify
it or send from it. The id is ``uuid5(NAMESPACE_URL, "/mailerlogic/domain-claims/<name>")``,
so two customers claiming one name meet on one aggregate's version: the second save fails
instead of both holding it.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL
from uuid import UUID
from uuid import uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.domain import event

from event_store.errors import Conflict


class DomainTaken(Conflict):
    """The domain name is verified by another customer."""

    code = "domain_taken"


class DomainClaim(Aggregate):
    """Index aggregate: domain name -> the customer that holds it verified (or nobody)."""

    class Claimed(Aggregate.Created):
        customer_id: UUID

    class Reclaimed(Aggregate.Event):
        customer_id: UUID

    class Released(Aggregate.Event):
        pass

    @staticmethod
    def create_id(domain: str) -> UUID:
        """The id of the index entry for a (normalised) domain name."""
        return uuid5(NAMESPACE_URL, f"/mailerlogic/domain-claims/{domain}")

    @event(Claimed)
    def __init__(self, customer_id: UUID) -> None:
        self.holder: UUID | None = customer_id

    @classmethod
    def first(cls, domain: str, customer_id: UUID) -> DomainClaim:
        """The first claim of a name."""
        return cls._create(cls.Claimed, id=cls.create_id(domain), customer_id=customer_id)

    def held_by_another(self, customer_id: UUID) -> bool:
        """Whether some other customer holds the name now."""
        return self.holder is not None and self.holder != customer_id

    def claim(self, domain: str, customer_id: UUID) -> None:
        """Hold the name for ``customer_id``, or refuse if another customer holds it."""
        if self.held_by_another(customer_id):
            raise DomainTaken(f"{domain} is verified by another account", code="domain_taken")
        if self.holder is None:
            self._reclaimed(customer_id=customer_id)

    @event(Reclaimed)
    def _reclaimed(self, customer_id: UUID) -> None:
        self.holder = customer_id

    def release(self, customer_id: UUID) -> None:
        """Let the name go, if ``customer_id`` holds it."""
        if self.holder == customer_id:
            self._released()

    @event(Released)
    def _released(self) -> None:
        self.holder = None
