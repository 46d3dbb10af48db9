"""A customer's outbound webhook endpoints (spec §15).

One aggregate per customer holds all its endpoints, so ``webhook_endpoints_limit`` is an
invariant decided in one place. Each endpoint's signing secret is stored only sealed.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.domain import event

from event_store.aggregates.per_customer import PerCustomer
from event_store.errors import DomainError
from event_store.errors import NotFound

EVENT_NAMES = ("email.sent", "email.delivered", "email.opened", "email.clicked", "email.bounced",
               "email.complained", "email.unsubscribed", "email.failed")
CHANGEABLE = ("url", "name", "description", "events", "domain_ids", "is_active")


class WebhookEndpoints(PerCustomer, Aggregate):
    """The webhook endpoints of one customer."""

    PATH = "webhooks"

    class Started(Aggregate.Created):
        customer_id: UUID

    class Added(Aggregate.Event):
        endpoint_id: UUID
        fields: dict[str, Any]
        secret_sealed: str

    class Changed(Aggregate.Event):
        endpoint_id: UUID
        changes: dict[str, Any]

    class Removed(Aggregate.Event):
        endpoint_id: UUID

    @event(Started)
    def __init__(self, customer_id: UUID) -> None:
        self.customer_id = customer_id
        self.endpoints: dict[UUID, dict[str, Any]] = {}

    def add(self, endpoint_id: UUID, fields: dict[str, Any], secret_sealed: str, limit: int) -> None:
        """Add an endpoint unless the tier's limit is reached."""
        if len(self.endpoints) >= limit:
            raise DomainError(f"your tier allows {limit} webhook endpoint(s)",
                              code="webhook_limit_reached")
        self._added(endpoint_id=endpoint_id, fields=fields, secret_sealed=secret_sealed)

    @event(Added)
    def _added(self, endpoint_id: UUID, fields: dict[str, Any], secret_sealed: str) -> None:
        self.endpoints[endpoint_id] = {**fields, "id": endpoint_id, "secret_sealed": secret_sealed,
                                       "created_at": self.modified_on}

    def endpoint(self, endpoint_id: UUID) -> dict[str, Any]:
        """One endpoint, or :class:`NotFound`."""
        found = self.endpoints.get(endpoint_id)
        if found is None:
            raise NotFound("webhook not found")
        return found

    def change(self, endpoint_id: UUID, changes: dict[str, Any]) -> None:
        """Change an endpoint's settings (only real changes are recorded)."""
        current = self.endpoint(endpoint_id)
        real = {k: v for k, v in changes.items() if k in CHANGEABLE and current.get(k) != v}
        if real:
            self._changed(endpoint_id=endpoint_id, changes=real)

    @event(Changed)
    def _changed(self, endpoint_id: UUID, changes: dict[str, Any]) -> None:
        self.endpoints[endpoint_id].update(changes)

    def remove(self, endpoint_id: UUID) -> None:
        """Remove an endpoint."""
        self.endpoint(endpoint_id)
        self._removed(endpoint_id=endpoint_id)

    @event(Removed)
    def _removed(self, endpoint_id: UUID) -> None:
        del self.endpoints[endpoint_id]
