"""The API-key index: key hash -> customer, so authentication is one lookup."""

from __future__ import annotations

from uuid import NAMESPACE_URL
from uuid import UUID
from uuid import uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.domain import event


class ApiKey(Aggregate):
    """Index aggregate: key hash -> customer, so authentication is one lookup."""

    class Issued(Aggregate.Created):
        customer_id: UUID

    class Revoked(Aggregate.Event):
        pass

    @staticmethod
    def create_id(key_hash: str) -> UUID:
        """The id of the index entry for a key hash."""
        return uuid5(NAMESPACE_URL, f"/mailerlogic/api-keys/{key_hash}")

    @event(Issued)
    def __init__(self, customer_id: UUID) -> None:
        self.customer_id = customer_id
        self.revoked = False

    @classmethod
    def issue(cls, key_hash: str, customer_id: UUID) -> ApiKey:
        """Create the index entry for a new key."""
        return cls._create(cls.Issued, id=cls.create_id(key_hash), customer_id=customer_id)

    @event(Revoked)
    def revoke(self) -> None:
        """The key stops working."""
        self.revoked = True
