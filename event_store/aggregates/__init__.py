"""Aggregates: they decide, and record what happened as typed, past-tense events.

Topic strings of these event classes are stored with every event: never rename or move
a class, add a new one and upcast instead.
"""

from __future__ import annotations

from event_store.aggregates.api_key import ApiKey
from event_store.aggregates.customer import TIERS
from event_store.aggregates.customer import Customer
from event_store.aggregates.domain_claim import DomainClaim
from event_store.aggregates.domain_claim import DomainTaken
from event_store.aggregates.engagement import Engagement
from event_store.aggregates.export_job import ExportJob
from event_store.aggregates.export_job import ExportQueue
from event_store.aggregates.health import HealthScore
from event_store.aggregates.message import Message
from event_store.aggregates.report import InboundReport
from event_store.aggregates.suppression import Suppression
from event_store.aggregates.webhook_delivery import WebhookDelivery
from event_store.aggregates.webhooks import WebhookEndpoints

__all__ = ["TIERS", "ApiKey", "Customer", "DomainClaim", "DomainTaken", "Engagement", "ExportJob",
           "ExportQueue", "HealthScore", "InboundReport", "Message", "Suppression", "WebhookDelivery",
           "WebhookEndpoints"]
