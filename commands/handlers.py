"""Handlers of sending and tracking: plain functions ``(cmd, bus)`` that decide and save."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any

from commands import account
from commands import delivery as delivery_commands
from commands import exports
from commands import health
from commands import messages
from commands import suppression as suppression_handlers
from commands import webhook_deliveries
from commands import webhooks as webhook_endpoints
from commands.messages import RecordClick
from commands.messages import RecordOpen
from commands.messages import SendEmail
from commands.messages import SendMany
from event_store.aggregates import Customer
from event_store.aggregates import DomainTaken
from event_store.aggregates import Engagement
from event_store.aggregates import Message
from event_store.errors import DomainError

SAVE_CHUNK = 500

if TYPE_CHECKING:
    from commands.bus import Bus


def send_email(cmd: SendEmail, bus: Bus) -> Message:
    """Decide whether the customer may send this message and queue it."""
    customer = _customer(cmd, bus)
    _check_quota(customer, 1, bus)
    message = decide_send(customer, cmd, bus)
    bus.app.save(message)
    _count(customer, 1, bus)
    return message


def _customer(cmd: SendEmail | SendMany, bus: Bus) -> Customer:
    """The sending customer, read only: the one the request authenticated, else loaded."""
    if isinstance(cmd.customer, Customer) and cmd.customer.id == cmd.customer_id:
        return cmd.customer
    return bus.app.get(cmd.customer_id, Customer, "customer", copy=False)


def _check_quota(customer: Customer, wanted: int, bus: Bus) -> int:
    """How many of ``wanted`` messages the monthly limit still allows (at least one, or 422)."""
    if bus.deps.usage is None:
        return wanted
    left = customer.limits["monthly_email_limit"] - bus.deps.usage.used(customer.id)
    if left <= 0:
        raise DomainError("the monthly email limit of your plan is reached",
                          code="monthly_limit_reached")
    return min(wanted, int(left))


def _count(customer: Customer, sent: int, bus: Bus) -> None:
    if bus.deps.usage is not None:
        bus.deps.usage.add(customer.id, sent)


def send_many(cmd: SendMany, bus: Bus) -> list[Message | DomainError]:
    """Decide each message on its own (one refusal never blocks the others), then queue all
    accepted ones in transactions of up to ``SAVE_CHUNK`` messages."""
    customer = _customer(cmd, bus)
    allowed = _check_quota(customer, len(cmd.items), bus)
    results: list[Message | DomainError] = []
    for item in cmd.items:
        try:
            if sum(isinstance(r, Message) for r in results) >= allowed:
                raise DomainError("the monthly email limit of your plan is reached",
                                  code="monthly_limit_reached")
            results.append(decide_send(customer, item, bus))
        except DomainError as exc:
            results.append(exc)
    accepted = [r for r in results if isinstance(r, Message)]
    for start in range(0, len(accepted), SAVE_CHUNK):
        bus.app.save(*accepted[start:start + SAVE_CHUNK])
    _count(customer, len(accepted), bus)
    return results


def decide_send(customer: Customer, cmd: SendEmail, bus: Bus) -> Message:
    """The queued message, or a :class:`DomainError` saying why it may not be sent."""
    sending = customer.sending_domain(cmd.domain, cmd.from_address)
    domain, domain_id = sending["domain"], sending["id"]
    if sending["status"] != "verified":  # allowed only with enforce_sender_verification off
        claim = bus.app.domain_claim(domain)
        if claim is not None and claim.held_by_another(customer.id):
            raise DomainTaken(f"{domain} is verified by another account")
    suppression_handlers.check_not_suppressed(bus, customer.id, [cmd.to, *cmd.cc, *cmd.bcc], domain_id)
    message = Message(
        customer_id=customer.id, to=cmd.to, from_address=cmd.from_address or f"noreply@{domain}",
        subject=cmd.subject, html=cmd.html, text=cmd.text, reply_to=cmd.reply_to,
        cc=list(cmd.cc), bcc=list(cmd.bcc), headers=dict(cmd.headers), tag=cmd.tag,
        metadata=dict(cmd.metadata), domain=domain, domain_id=domain_id,
        track_opens=_tracking(cmd.track_opens, sending, customer, "open_tracking_enabled"),
        track_clicks=_tracking(cmd.track_clicks, sending, customer, "click_tracking_enabled"),
    )
    return message


def _tracking(asked: bool | None, domain: dict[str, Any], customer: Customer, flag: str) -> bool:
    """The request's choice, else the domain's setting, else the account's."""
    if asked is not None:
        return asked
    if domain[flag] is not None:
        return bool(domain[flag])
    return bool(customer.tracking_enabled and getattr(customer, flag))


def _seconds_since_sent(message: Message) -> int | None:
    if message.sent_at is None:
        return None
    return max(0, int((datetime.now(UTC) - message.sent_at).total_seconds()))


def _hit(message: Message, user_agent: str, ip: str) -> dict[str, Any]:
    return {**message.dimensions(), "email_id": message.id, "user_agent": user_agent[:512],
            "ip": ip[:64], "seconds_since_sent": _seconds_since_sent(message)}


def record_open(cmd: RecordOpen, bus: Bus) -> Engagement:
    """Record one open of a message (each hit is a new fact)."""
    message = bus.app.get_message(cmd.message_id, copy=False)  # read only
    hit = Engagement(kind="open", **_hit(message, cmd.user_agent, cmd.ip), url=None)
    bus.app.save(hit)
    return hit


def record_click(cmd: RecordClick, bus: Bus) -> Engagement:
    """Record one click of a message's link."""
    message = bus.app.get_message(cmd.message_id, copy=False)  # read only
    hit = Engagement(kind="click", **_hit(message, cmd.user_agent, cmd.ip), url=cmd.url)
    bus.app.save(hit)
    return hit


HANDLERS: dict[type, Callable[[Any, Bus], Any]] = {
    messages.CreateCustomer: account.create_customer,
    messages.RotateApiKey: account.rotate_api_key,
    messages.RotateSmtpPassword: account.rotate_smtp_password,
    messages.ChangeProfile: account.change_profile,
    messages.AddDomain: account.add_domain,
    messages.VerifyDomain: account.verify_domain,
    messages.ClaimVerifiedDomains: account.claim_verified_domains,
    messages.ChangeDomain: account.change_domain,
    messages.RemoveDomain: account.remove_domain,
    SendEmail: send_email,
    RecordOpen: record_open,
    RecordClick: record_click,
    SendMany: send_many,
    **delivery_commands.HANDLERS,
    **exports.HANDLERS,
    **health.HANDLERS,
    **suppression_handlers.HANDLERS,
    **webhook_endpoints.HANDLERS,
    **webhook_deliveries.HANDLERS,
}
