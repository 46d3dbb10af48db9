"""Handlers: plain functions ``(cmd, app)`` that decide on aggregates and save."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any
from uuid import uuid4

from commands.keys import KEY_PREFIX
from commands.keys import hash_key
from commands.keys import new_key
from commands.messages import CreateCustomer
from commands.messages import RecordClick
from commands.messages import RecordOpen
from commands.messages import SendEmail
from event_store.aggregates import ApiKey
from event_store.aggregates import Click
from event_store.aggregates import Customer
from event_store.aggregates import Engagement
from event_store.aggregates import Message
from event_store.aggregates import Open
from event_store.errors import DomainError

if TYPE_CHECKING:
    from event_store.application import EmailEvents


def create_customer(cmd: CreateCustomer, app: EmailEvents) -> tuple[Customer, str]:
    """Register a customer with its first key (returned once) and operator-trusted domains."""
    key = new_key()
    customer = Customer(name=cmd.name, email=cmd.email, tier=cmd.tier, key_hash=hash_key(key),
                        key_prefix=KEY_PREFIX, key_last4=key[-4:])
    for domain in cmd.domains:
        customer.add_domain(uuid4(), domain.lower(), verified=True)
    app.save(customer, ApiKey.issue(customer.key_hash, customer.id))
    return customer, key


def send_email(cmd: SendEmail, app: EmailEvents) -> Message:
    """Decide whether the customer may send this message and queue it."""
    customer = app.get(cmd.customer_id, Customer, "customer")
    domain, domain_id = customer.sending_domain(cmd.domain, cmd.from_address)
    message = Message(
        customer_id=customer.id, to=cmd.to, from_address=cmd.from_address or f"noreply@{domain}",
        subject=cmd.subject, html=cmd.html, text=cmd.text, reply_to=cmd.reply_to,
        cc=list(cmd.cc), bcc=list(cmd.bcc), headers=dict(cmd.headers), tag=cmd.tag,
        metadata=dict(cmd.metadata), domain=domain, domain_id=domain_id,
        track_opens=customer.open_tracking_enabled if cmd.track_opens is None else cmd.track_opens,
        track_clicks=(customer.click_tracking_enabled if cmd.track_clicks is None
                      else cmd.track_clicks),
    )
    app.save(message)
    return message


def _seconds_since_sent(message: Message) -> int | None:
    if message.sent_at is None:
        return None
    return max(0, int((datetime.now(UTC) - message.sent_at).total_seconds()))


def _hit(message: Message, user_agent: str, ip: str) -> dict[str, Any]:
    return {**message.dimensions(), "email_id": message.id, "user_agent": user_agent[:512],
            "ip": ip[:64], "seconds_since_sent": _seconds_since_sent(message)}


def record_open(cmd: RecordOpen, app: EmailEvents) -> Engagement:
    """Record one open of a message (each hit is a new fact)."""
    message = app.get_message(cmd.message_id)
    hit = Open(**_hit(message, cmd.user_agent, cmd.ip))
    app.save(hit)
    return hit


def record_click(cmd: RecordClick, app: EmailEvents) -> Engagement:
    """Record one click of a message's link."""
    message = app.get_message(cmd.message_id)
    hit = Click(**_hit(message, cmd.user_agent, cmd.ip), url=cmd.url)
    app.save(hit)
    return hit


HANDLERS: dict[type, Callable[[Any, EmailEvents], Any]] = {
    CreateCustomer: create_customer,
    SendEmail: send_email,
    RecordOpen: record_open,
    RecordClick: record_click,
}


def handle(cmd: Any, app: EmailEvents) -> Any:
    """Dispatch a command to its handler; command errors propagate to the caller."""
    handler = HANDLERS.get(type(cmd))
    if handler is None:
        raise DomainError(f"no handler for {type(cmd).__name__}", code="internal", status=500)
    return handler(cmd, app)
