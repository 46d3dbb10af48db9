"""One outbound email and its lifecycle."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.domain import event


class Message(Aggregate):
    """One outbound email; its id is the ``message_id`` / ``email_id`` of the API."""

    class Queued(Aggregate.Created):
        customer_id: UUID
        to: str
        from_address: str
        subject: str
        html: str | None
        text: str | None
        reply_to: str | None
        cc: list[str]
        bcc: list[str]
        headers: dict[str, str]
        tag: str | None
        metadata: dict[str, Any]
        domain: str
        domain_id: UUID
        track_opens: bool
        track_clicks: bool

    @event(Queued)
    def __init__(  # noqa: PLR0913 - the contract's fields
        self,
        customer_id: UUID,
        to: str,
        from_address: str,
        subject: str,
        html: str | None,
        text: str | None,
        reply_to: str | None,
        cc: list[str],
        bcc: list[str],
        headers: dict[str, str],
        tag: str | None,
        metadata: dict[str, Any],
        domain: str,
        domain_id: UUID,
        track_opens: bool,
        track_clicks: bool,
    ) -> None:
        self.customer_id, self.to, self.from_address = customer_id, to, from_address
        self.subject, self.html, self.text = subject, html, text
        self.reply_to, self.cc, self.bcc, self.headers = reply_to, cc, bcc, headers
        self.tag, self.metadata, self.domain, self.domain_id = tag, metadata, domain, domain_id
        self.track_opens, self.track_clicks = track_opens, track_clicks
        self.status = "queued"
        self.sent_at: datetime | None = None

    def dimensions(self) -> dict[str, Any]:
        """What engagement events copy so that projections never need a lookup."""
        return {
            "customer_id": self.customer_id,
            "recipient": self.to,
            "from_address": self.from_address,
            "domain": self.domain,
            "domain_id": self.domain_id,
            "tag": self.tag,
        }
