"""An inbound bounce or complaint report, kept once: its id makes re-posts harmless."""

from __future__ import annotations

from uuid import NAMESPACE_URL
from uuid import UUID
from uuid import uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.domain import event


class InboundReport(Aggregate):
    """The receipt of one report (by its stable ``report_id``) and what it matched."""

    class Received(Aggregate.Created):
        report_id: str
        kind: str
        recipient: str
        email_id: UUID | None
        customer_id: UUID | None

    @staticmethod
    def create_id(report_id: str) -> UUID:
        """The aggregate id of a report id."""
        return uuid5(NAMESPACE_URL, f"/mailerlogic/reports/{report_id}")

    @classmethod
    def receive(cls, report_id: str, kind: str, recipient: str, email_id: UUID | None,
                customer_id: UUID | None) -> InboundReport:
        """Record the receipt of a report."""
        return cls._create(cls.Received, id=cls.create_id(report_id), report_id=report_id, kind=kind,
                           recipient=recipient, email_id=email_id, customer_id=customer_id)

    @event(Received)
    def __init__(self, report_id: str, kind: str, recipient: str, email_id: UUID | None,
                 customer_id: UUID | None) -> None:
        self.report_id, self.kind, self.recipient = report_id, kind, recipient
        self.email_id, self.customer_id = email_id, customer_id
