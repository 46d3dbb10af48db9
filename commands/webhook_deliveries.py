"""Commands of the webhook worker: load a customer's targets, read and record deliveries.

Recording is safe to repeat: nothing is appended to a final (delivered or failed)
delivery, and a concurrent save (``IntegrityError``) is retried by the bus on a freshly
loaded one.

The profile's ``webhook_url`` is one more customer-level endpoint (all events). Its id is
``uuid5(NAMESPACE_URL, "/mailerlogic/webhooks/<customer_id>/profile")`` and its signing
secret is derived, never stored: ``"whsec_" + hex(HMAC-SHA256(MAILERLOGIC_SECRET_KEY,
"mailerlogic/webhook_url/<customer_id>"))[:48]`` (:func:`profile_secret`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any
from uuid import NAMESPACE_URL
from uuid import UUID
from uuid import uuid5

from commands.webhooks import endpoints_of
from event_store.aggregates import Customer
from event_store.aggregates import WebhookDelivery
from event_store.errors import NotFound
from security import dkim_keys

if TYPE_CHECKING:
    from datetime import datetime

    from commands.bus import Bus

@dataclass(frozen=True)
class WebhookTarget:
    """An endpoint with its unsealed secret; empty ``events``/``domain_ids`` mean all."""

    id: UUID
    url: str
    events: tuple[str, ...]
    domain_ids: tuple[UUID, ...]
    is_active: bool
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class DeliveryView:
    """A delivery as the worker needs it (``body`` is the signed JSON, UTF-8)."""

    delivery_id: UUID
    customer_id: UUID
    endpoint_id: UUID
    event_id: UUID
    event_type: str
    body: str
    status: str
    attempts: int
    first_attempt_at: datetime | None
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class LoadWebhookTargets:
    """The customer's endpoints and profile ``webhook_url``, secrets unsealed."""

    customer_id: UUID


@dataclass(frozen=True)
class LoadWebhookDelivery:
    """One delivery, or None if nothing was recorded yet."""

    delivery_id: UUID


@dataclass(frozen=True)
class RecordWebhookAttempt:
    """Record one POST of an event to an endpoint (starting the delivery on the first)."""

    customer_id: UUID
    endpoint_id: UUID
    event_id: UUID
    event_type: str
    body: str
    attempted_at: datetime
    status_code: int
    ok: bool
    error: str
    duration_ms: int
    response: str
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class AbandonWebhookDelivery:
    """Give a pending delivery up without another attempt (its endpoint is gone or inactive)."""

    delivery_id: UUID
    reason: str


def profile_endpoint_id(customer_id: UUID) -> UUID:
    """The stable endpoint id of a customer's profile ``webhook_url``."""
    return uuid5(NAMESPACE_URL, f"/mailerlogic/webhooks/{customer_id}/profile")


def profile_secret(secret_key: bytes, customer_id: UUID) -> bytes:
    """The derived signing secret of a customer's profile ``webhook_url``."""
    digest = hmac.new(secret_key, f"mailerlogic/webhook_url/{customer_id}".encode(), hashlib.sha256)
    return ("whsec_" + digest.hexdigest()[:48]).encode()


def load_webhook_targets(cmd: LoadWebhookTargets, bus: Bus) -> list[WebhookTarget]:
    """Every endpoint of the customer, then the profile URL; [] for an unknown customer."""
    try:
        customer = bus.app.get(cmd.customer_id, Customer, "customer")
    except NotFound:
        return []
    endpoints = endpoints_of(bus, cmd.customer_id)
    found = [_target(bus, e) for e in (endpoints.endpoints.values() if endpoints else ())]
    if customer.webhook_url:
        found.append(WebhookTarget(profile_endpoint_id(customer.id), customer.webhook_url, (), (), True,
                                   profile_secret(bus.deps.secret_key, customer.id)))
    return found


def _target(bus: Bus, endpoint: dict[str, Any]) -> WebhookTarget:
    secret = dkim_keys.unseal(bus.deps.secret_key, endpoint["secret_sealed"],
                              associated_data=endpoint["id"].bytes)
    return WebhookTarget(endpoint["id"], endpoint["url"], tuple(endpoint.get("events") or ()),
                         tuple(endpoint.get("domain_ids") or ()), bool(endpoint.get("is_active", True)),
                         secret)


def load_webhook_delivery(cmd: LoadWebhookDelivery, bus: Bus) -> DeliveryView | None:
    """The delivery's state, or None."""
    try:
        return _view(bus.app.get(cmd.delivery_id, WebhookDelivery, "webhook delivery"))
    except NotFound:
        return None


def record_webhook_attempt(cmd: RecordWebhookAttempt, bus: Bus) -> DeliveryView:
    """Append the attempt unless the delivery is final; the delivery afterwards."""
    return _record_once(cmd, bus)


def abandon_webhook_delivery(cmd: AbandonWebhookDelivery, bus: Bus) -> DeliveryView | None:
    """Give the delivery up unless it is final; None if it does not exist."""
    try:
        delivery = bus.app.get(cmd.delivery_id, WebhookDelivery, "webhook delivery")
    except NotFound:
        return None
    delivery.give_up(cmd.reason)
    bus.app.save(delivery)
    return _view(delivery)


def _record_once(cmd: RecordWebhookAttempt, bus: Bus) -> DeliveryView:
    delivery_id = WebhookDelivery.create_id(cmd.endpoint_id, cmd.event_id)
    try:
        delivery = bus.app.get(delivery_id, WebhookDelivery, "webhook delivery")
    except NotFound:
        delivery = WebhookDelivery.start(cmd.customer_id, cmd.endpoint_id, cmd.event_id, cmd.event_type,
                                         cmd.body)
    if delivery.status == "pending":
        delivery.record_attempt(cmd.attempted_at, cmd.status_code, cmd.ok, cmd.error, cmd.duration_ms,
                                cmd.response, cmd.next_attempt_at)
        bus.app.save(delivery)
    return _view(delivery)


def _view(delivery: WebhookDelivery) -> DeliveryView:
    return DeliveryView(delivery.id, delivery.customer_id, delivery.endpoint_id, delivery.event_id,
                        delivery.event_type, delivery.body, delivery.status, delivery.attempts,
                        delivery.first_attempt_at, delivery.next_attempt_at)


HANDLERS: dict[type, Callable[[Any, Any], Any]] = {
    LoadWebhookTargets: load_webhook_targets,
    LoadWebhookDelivery: load_webhook_delivery,
    RecordWebhookAttempt: record_webhook_attempt,
    AbandonWebhookDelivery: abandon_webhook_delivery,
}
