"""Aggregates of which a customer has exactly one, found by an id derived from the customer's."""

from __future__ import annotations

from typing import Any
from typing import ClassVar
from typing import Self
from uuid import NAMESPACE_URL
from uuid import UUID
from uuid import uuid5


class PerCustomer:
    """Mixin for an ``Aggregate`` whose created event is ``Started(customer_id)``.

    The id is ``uuid5(NAMESPACE_URL, "/mailerlogic/<PATH>/<customer id>")``, so any process finds
    a customer's record without an index, and two processes starting it at once collide on
    version 1 (one of the saves fails with ``IntegrityError`` and reads the other's).
    """

    PATH: ClassVar[str]  # e.g. "health-scores"; part of stored ids: never change it

    @classmethod
    def create_id(cls, customer_id: UUID) -> UUID:
        """The id of the customer's record."""
        return uuid5(NAMESPACE_URL, f"/mailerlogic/{cls.PATH}/{customer_id}")

    @classmethod
    def start(cls, customer_id: UUID) -> Self:
        """A new, empty record of the customer."""
        aggregate: Any = cls  # an Aggregate subclass: _create and Started are its own
        started: Self = aggregate._create(aggregate.Started, id=cls.create_id(customer_id),
                                          customer_id=customer_id)
        return started
