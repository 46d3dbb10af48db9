"""Tracked hits: each open or click is its own fact.

A hit is its own aggregate, so concurrent hits on one message never contend for the
message's version; the message's dimensions are copied in so projections need no lookup.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.domain import event

KINDS = {"open": "opened", "click": "clicked"}


class Engagement(Aggregate):
    """One open (``kind="open"``) or click (``kind="click"``, with its ``url``)."""

    class Recorded(Aggregate.Created):
        kind: str
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
        url: str | None

    @event(Recorded)
    def __init__(  # noqa: PLR0913 - the dimensions of the message
        self, kind: str, email_id: UUID, customer_id: UUID, recipient: str, from_address: str,
        domain: str, domain_id: UUID, tag: str | None, user_agent: str, ip: str,
        seconds_since_sent: int | None, url: str | None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown engagement kind {kind!r}")
        self.kind, self.email_id, self.customer_id, self.url = kind, email_id, customer_id, url
