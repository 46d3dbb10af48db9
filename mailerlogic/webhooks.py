"""Composition of the webhook worker (``mailerlogic consume webhooks``, and a thread of run-all).

Customer events come from Kafka (consumer group ``webhooks``) or, on the embedded default,
from the notification log; POSTs go through the SSRF-guarded :class:`Sender`
(``MAILERLOGIC_WEBHOOKS_ALLOW_PRIVATE`` lifts the address check); the retry schedule lives
in the event store's database (``webhook_retries``). The consumer loop and the retry loop
run side by side: a failure of either stops both and propagates (the guarantees are in
``consumers/webhooks/worker.py``).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from commands.webhook_deliveries import AbandonWebhookDelivery
from commands.webhook_deliveries import DeliveryView
from commands.webhook_deliveries import LoadWebhookDelivery
from commands.webhook_deliveries import LoadWebhookTargets
from commands.webhook_deliveries import RecordWebhookAttempt
from commands.webhook_deliveries import WebhookTarget
from consumers import loop
from consumers.webhooks.payload import Endpoint
from consumers.webhooks.ports import Delivery
from consumers.webhooks.retry_store import WebhookRetryStore
from consumers.webhooks.schedule import DEFAULT_SCHEDULE
from consumers.webhooks.schedule import WebhookSchedule
from consumers.webhooks.sender import Sender
from consumers.webhooks.worker import WebhookSink
from consumers.webhooks.worker import WebhookWorker
from consumers.webhooks.worker import run_retries
from event_store.aggregates import WebhookDelivery
from mailerlogic.consumer_runtime import backoff_fields
from mailerlogic.consumer_runtime import run_with_retries
from mailerlogic.processes import ensure_topics
from mailerlogic.wiring import build_bus
from mailerlogic.wiring import build_events

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    from commands.bus import Bus
    from consumers.webhooks.sender import Attempt
    from event_store.application import EmailEvents
    from mailerlogic.config import Settings

log = logging.getLogger("mailerlogic.webhooks")
GROUP = "webhooks"
LIMITS = loop.Limits(max_records=64, max_wait_s=0.2, poll_timeout_s=0.1)
CONCURRENCY = 4


class BusDeliveryStore:
    """The worker's :class:`~consumers.webhooks.ports.DeliveryStore` over the command bus."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    def delivery_id(self, endpoint_id: UUID, event_id: UUID) -> UUID:
        """The id of the ``WebhookDelivery`` aggregate."""
        return WebhookDelivery.create_id(endpoint_id, event_id)

    def endpoints(self, customer_id: UUID) -> list[Endpoint]:
        """The customer's endpoints and profile URL, with unsealed secrets."""
        found: list[WebhookTarget] = self.bus.handle(LoadWebhookTargets(customer_id))
        return [Endpoint(t.id, t.url, t.events, t.domain_ids, t.is_active, t.secret) for t in found]

    def load(self, delivery_id: UUID) -> Delivery | None:
        """The recorded delivery, or None."""
        view: DeliveryView | None = self.bus.handle(LoadWebhookDelivery(delivery_id))
        return None if view is None else _delivery(view)

    def record(self, delivery: Delivery, attempt: Attempt, attempted_at: datetime,
               next_attempt_at: datetime | None) -> Delivery:
        """Append the attempt through the bus; the delivery afterwards."""
        return _delivery(self.bus.handle(RecordWebhookAttempt(
            delivery.customer_id, delivery.endpoint_id, delivery.event_id, delivery.event_type,
            delivery.body.decode("utf-8"), attempted_at, attempt.status_code, attempt.ok, attempt.error,
            attempt.duration_ms, attempt.response, next_attempt_at)))

    def abandon(self, delivery_id: UUID, reason: str) -> None:
        """Record that the delivery gave up."""
        self.bus.handle(AbandonWebhookDelivery(delivery_id, reason))


def _delivery(view: DeliveryView) -> Delivery:
    return Delivery(view.delivery_id, view.customer_id, view.endpoint_id, view.event_id, view.event_type,
                    view.body.encode("utf-8"), view.status, view.attempts, view.first_attempt_at,
                    view.next_attempt_at)


def webhook_schedule(spec: str | None) -> WebhookSchedule:
    """``MAILERLOGIC_WEBHOOK_RETRY_SCHEDULE``: ``first=30,factor=2,max=3600,budget=86400`` (seconds)."""
    if not spec:
        return DEFAULT_SCHEDULE
    return WebhookSchedule(**backoff_fields(spec, "MAILERLOGIC_WEBHOOK_RETRY_SCHEDULE",
                                            DEFAULT_SCHEDULE.max_delay))


def open_webhook_retries(settings: Settings) -> WebhookRetryStore:
    """The retry schedule in the event store's database (PostgreSQL, or the SQLite file)."""
    return WebhookRetryStore.open(settings.event_store_url, settings.data_dir / "events.sqlite")


def build_webhook_worker(settings: Settings, events: EmailEvents,
                         retries: WebhookRetryStore) -> WebhookWorker:
    """The worker with its adapters."""
    return WebhookWorker(BusDeliveryStore(build_bus(settings, events)),
                         Sender(allow_private=settings.webhooks_allow_private), retries,
                         webhook_schedule(settings.webhook_retry_schedule))


def run_webhooks(settings: Settings, stop: threading.Event, events: EmailEvents | None = None) -> None:
    """POST customer events to their webhook endpoints, and due retries, until stopped."""
    if settings.kafka_bootstrap_servers:
        ensure_topics(settings, stop)
    events = events or build_events(settings)
    retries = open_webhook_retries(settings)
    worker = build_webhook_worker(settings, events, retries)
    sink = WebhookSink(worker, CONCURRENCY)
    log.info("webhooks: consuming %s", "kafka" if settings.kafka_bootstrap_servers else "the log")
    run_with_retries(settings, stop, events, name="webhook", group=GROUP, sink=sink,
                     retries=lambda halt: run_retries(worker, halt), limits=LIMITS, close=retries.close)
