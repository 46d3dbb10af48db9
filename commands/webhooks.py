"""Handlers of outbound webhook endpoints: add, change, remove (secrets sealed, shown once)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from uuid import UUID
from uuid import uuid4

from event_store.aggregates import Customer
from event_store.aggregates import WebhookEndpoints
from event_store.errors import DomainError
from event_store.errors import NotFound
from security import dkim_keys

if TYPE_CHECKING:
    from commands.bus import Bus


@dataclass(frozen=True)
class AddWebhook:
    """Add an endpoint; its signing secret is returned once."""

    customer_id: UUID
    fields: dict[str, Any]


@dataclass(frozen=True)
class ChangeWebhook:
    """Change an endpoint's settings."""

    customer_id: UUID
    endpoint_id: UUID
    changes: dict[str, Any]


@dataclass(frozen=True)
class RemoveWebhook:
    """Remove an endpoint."""

    customer_id: UUID
    endpoint_id: UUID


def endpoints_of(bus: Bus, customer_id: UUID) -> WebhookEndpoints | None:
    """The customer's endpoint list, or None before the first endpoint."""
    try:
        return bus.app.get(WebhookEndpoints.create_id(customer_id), WebhookEndpoints, "webhooks")
    except NotFound:
        return None


def _check_domains(customer: Customer, fields: dict[str, Any]) -> None:
    unknown = [str(d) for d in fields.get("domain_ids") or () if d not in customer.domains]
    if unknown:
        raise DomainError("unknown domain_ids", code="validation_error", status=400,
                          details={"domain_ids": [f"not one of your domains: {', '.join(unknown)}"]})


def check_target(bus: Bus, field: str, url: str | None) -> None:
    """400 naming ``field`` unless webhooks may go to ``url``: https, no private address (Deps)."""
    check = bus.deps.webhook_url_check
    if not url or check is None:
        return
    try:
        check(url)
    except ValueError as refused:
        raise DomainError(f"{field}: {refused}", code="validation_error", status=400,
                          details={field: [str(refused)]}) from None


def add_webhook(cmd: AddWebhook, bus: Bus) -> tuple[dict[str, Any], str]:
    """Add an endpoint under the tier's ``webhook_endpoints_limit``."""
    check_target(bus, "url", cmd.fields.get("url"))
    customer = bus.app.get(cmd.customer_id, Customer, "customer")
    _check_domains(customer, cmd.fields)
    endpoints = endpoints_of(bus, cmd.customer_id) or WebhookEndpoints.start(cmd.customer_id)
    endpoint_id, secret = uuid4(), "whsec_" + secrets.token_hex(24)
    sealed = dkim_keys.seal(bus.deps.secret_key, secret.encode(), associated_data=endpoint_id.bytes)
    endpoints.add(endpoint_id, cmd.fields, sealed, customer.limits["webhook_endpoints_limit"])
    bus.app.save(endpoints)
    return endpoints.endpoints[endpoint_id], secret


def change_webhook(cmd: ChangeWebhook, bus: Bus) -> dict[str, Any]:
    """Change an endpoint."""
    endpoints = endpoints_of(bus, cmd.customer_id)
    if endpoints is None:
        raise NotFound("webhook not found")
    endpoints.endpoint(cmd.endpoint_id)  # another customer's or no such endpoint: 404 before the body
    check_target(bus, "url", cmd.changes.get("url"))
    _check_domains(bus.app.get(cmd.customer_id, Customer, "customer"), cmd.changes)
    endpoints.change(cmd.endpoint_id, cmd.changes)
    bus.app.save(endpoints)
    return endpoints.endpoints[cmd.endpoint_id]


def remove_webhook(cmd: RemoveWebhook, bus: Bus) -> None:
    """Remove an endpoint."""
    endpoints = endpoints_of(bus, cmd.customer_id)
    if endpoints is None:
        raise NotFound("webhook not found")
    endpoints.remove(cmd.endpoint_id)
    bus.app.save(endpoints)


HANDLERS: dict[type, Any] = {AddWebhook: add_webhook, ChangeWebhook: change_webhook,
                             RemoveWebhook: remove_webhook}
