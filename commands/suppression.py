"""Handlers of unsubscribes, re-subscribes and inbound bounce/complaint reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from uuid import UUID
from uuid import uuid4

from event_store.aggregates import Customer
from event_store.aggregates import InboundReport
from event_store.aggregates import Suppression
from event_store.errors import DomainError
from event_store.errors import NotFound

if TYPE_CHECKING:
    from commands.bus import Bus
    from commands.reports import Report


@dataclass(frozen=True)
class Unsubscribe:
    """Suppress an address, globally (``domain_id`` None) or for one sending domain."""

    customer_id: UUID
    email: str
    domain_id: UUID | None
    source: str
    reason: str | None = None
    email_id: UUID | None = None
    strict: bool = True


@dataclass(frozen=True)
class Resubscribe:
    """Remove an unsubscribe entry (with the recipient's documented consent)."""

    customer_id: UUID
    email: str
    domain_id: UUID | None


@dataclass(frozen=True)
class UnsubscribeByLink:
    """The recipient of a message used its unsubscribe link (or one-click POST)."""

    message_id: UUID
    source: str


@dataclass(frozen=True)
class RecordReport:
    """An authenticated bounce or complaint report."""

    report: Report


def suppression_record(bus: Bus, customer_id: UUID, email: str) -> Suppression:
    """The address's suppression record, or a new empty one."""
    return bus.app.suppression(customer_id, email) or Suppression.start(customer_id, email)


def unsubscribe(cmd: Unsubscribe, bus: Bus) -> dict[str, Any] | None:
    """Add an entry; the next send to the address is refused."""
    if cmd.domain_id is not None and cmd.domain_id not in bus.app.get(
            cmd.customer_id, Customer, "customer").domains:
        raise NotFound("domain not found")
    record = suppression_record(bus, cmd.customer_id, cmd.email)
    if not record.add(uuid4(), cmd.domain_id, cmd.source, cmd.reason, cmd.email_id, strict=cmd.strict):
        return None
    bus.app.save(record)
    return record.entries[cmd.domain_id]


def resubscribe(cmd: Resubscribe, bus: Bus) -> None:
    """Remove an entry, or :class:`NotFound`."""
    record = bus.app.suppression(cmd.customer_id, cmd.email)
    if record is None:
        raise NotFound(f"{cmd.email.lower()} is not unsubscribed")
    record.remove(cmd.domain_id)
    bus.app.save(record)


def unsubscribe_by_link(cmd: UnsubscribeByLink, bus: Bus) -> None:
    """A link unsubscribe is global for the customer: the recipient asked to stop, full stop."""
    message = bus.app.get_message(cmd.message_id)
    unsubscribe(Unsubscribe(message.customer_id, message.to, None, cmd.source,
                            email_id=message.id, strict=False), bus)


def record_report(cmd: RecordReport, bus: Bus) -> bool:
    """Apply a report once: bounce/complaint on the message, and suppression when it is hard."""
    report, app = cmd.report, bus.app
    if _seen(bus, report.report_id):
        return False
    message = _message(bus, report.message_id)
    receipt = InboundReport.receive(report.report_id, report.kind, report.recipient,
                                    message.id if message else None,
                                    message.customer_id if message else None)
    changed: list[Any] = [receipt]
    if message is not None:
        changed += _apply(bus, message, report)
    app.save(*changed)
    return True


def _seen(bus: Bus, report_id: str) -> bool:
    try:
        bus.app.get(InboundReport.create_id(report_id), InboundReport, "report")
    except NotFound:
        return False
    return True


def _message(bus: Bus, message_id: str | None) -> Any:
    if not message_id:
        return None
    try:
        return bus.app.get_message(UUID(message_id))
    except (NotFound, ValueError):
        return None


def _apply(bus: Bus, message: Any, report: Report) -> list[Any]:
    if report.kind == "complaint":
        message.record_complaint(report.feedback_type or "abuse", report.occurred_at)
        source = "complaint"
    else:
        message.record_bounce(report.bounce_type or "hard", report.code or 0, report.status,
                              report.diagnostic, "report", report.occurred_at)
        source = "bounce"
    if report.kind == "bounce" and report.bounce_type != "hard":
        return [message]
    record = suppression_record(bus, message.customer_id, report.recipient)
    record.add(uuid4(), None, source, report.diagnostic or report.feedback_type, message.id)
    return [message, record]


HANDLERS: dict[type, Any] = {
    Unsubscribe: unsubscribe,
    Resubscribe: resubscribe,
    UnsubscribeByLink: unsubscribe_by_link,
    RecordReport: record_report,
}


def check_not_suppressed(bus: Bus, customer_id: UUID, recipients: list[str],
                         domain_id: UUID) -> None:
    """Refuse a send when any recipient is suppressed for this domain."""
    for recipient in recipients:
        record = bus.app.suppression(customer_id, recipient, copy=False)  # read only
        entry = record.blocks(domain_id) if record else None
        if entry is not None:
            raise DomainError(f"{recipient} is suppressed ({entry['source']})",
                              code="recipient_suppressed")
