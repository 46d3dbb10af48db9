"""Tracked hits: each open or click is its own fact."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.domain import event


class Engagement(Aggregate):
    """Base of one tracked hit (open or click): each hit is its own fact, so concurrent
    hits on one message never contend for the message's version."""

    email_id: UUID


class Open(Engagement):
    """A recipient's mail client fetched the tracking pixel."""

    class Recorded(Aggregate.Created):
        email_id: UUID
        customer_id: UUID
        recipient: str
        from_address: str
        domain: str
        domain_id: UUID
        tag: str | None
        user_agent: str
        ip: str
        seconds_since_sent: int | None

    @event(Recorded)
    def __init__(  # noqa: PLR0913
        self,
        email_id: UUID,
        customer_id: UUID,
        recipient: str,
        from_address: str,
        domain: str,
        domain_id: UUID,
        tag: str | None,
        user_agent: str,
        ip: str,
        seconds_since_sent: int | None,
    ) -> None:
        self.email_id, self.customer_id = email_id, customer_id


class Click(Engagement):
    """A recipient followed a tracked link."""

    class Recorded(Aggregate.Created):
        email_id: UUID
        customer_id: UUID
        recipient: str
        from_address: str
        domain: str
        domain_id: UUID
        tag: str | None
        user_agent: str
        ip: str
        seconds_since_sent: int | None
        url: str

    @event(Recorded)
    def __init__(  # noqa: PLR0913
        self,
        email_id: UUID,
        customer_id: UUID,
        recipient: str,
        from_address: str,
        domain: str,
        domain_id: UUID,
        tag: str | None,
        user_agent: str,
        ip: str,
        seconds_since_sent: int | None,
        url: str,
    ) -> None:
        self.email_id, self.customer_id, self.url = email_id, customer_id, url
