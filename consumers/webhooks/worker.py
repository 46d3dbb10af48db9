"""The webhook worker: a consumer-loop sink that POSTs customer events to their endpoints.

Guarantees (spec §15):

* **Offsets are committed only after attempts are recorded.** :meth:`WebhookSink.write`
  returns only once every matching (event, endpoint) pair of the batch has its attempt
  durably appended to the event store (``WebhookDelivery``), or was already final or
  scheduled; the loop commits after ``write`` returns. Any error propagates: nothing is
  committed and the process exits for its supervisor to restart it.
* **Redelivery posts nothing new.** A delivery that succeeded or gave up is skipped, and a
  pending one belongs to the retry schedule. The one double POST: a crash between the
  endpoint's answer and the recorded attempt; receivers de-duplicate on the event id.
* **Nothing is lost.** A failed attempt's retry enters the durable schedule *before* the
  attempt is saved; :func:`run_retries` claims due entries with a lease. Retries send the
  stored body (identical bytes) with a fresh timestamp and signature, to the endpoint's
  current URL and secret; a delivery whose endpoint was removed or deactivated gives up.

Failed attempts are retried on :class:`WebhookSchedule` (24 h from the first attempt).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING

from consumers.webhooks.payload import EVENT_NAMES
from consumers.webhooks.payload import headers
from consumers.webhooks.payload import targets
from consumers.webhooks.ports import FINAL
from consumers.webhooks.ports import new_delivery
from consumers.webhooks.schedule import DEFAULT_SCHEDULE

if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Sequence
    from uuid import UUID

    from consumers.delivery.ports import RetrySchedule
    from consumers.webhooks.payload import Endpoint
    from consumers.webhooks.ports import Delivery
    from consumers.webhooks.ports import DeliveryStore
    from consumers.webhooks.schedule import WebhookSchedule
    from consumers.webhooks.sender import Attempt
    from consumers.webhooks.sender import Poster
    from event_store.envelope import Envelope

log = logging.getLogger(__name__)
_LOCK_STRIPES = 64
#: How long a claimed retry stays invisible to other claimers; longer than a few HTTP timeouts.
LEASE = timedelta(minutes=5)
GONE = "the endpoint was removed or deactivated"


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class WebhookWorker:
    """Attempts and records one delivery at a time per delivery id."""

    def __init__(self, store: DeliveryStore, poster: Poster, retries: RetrySchedule,
                 schedule: WebhookSchedule = DEFAULT_SCHEDULE,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.store, self.poster, self.retries = store, poster, retries
        self.schedule, self.clock = schedule, clock
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]

    def deliver_event(self, envelope: Envelope, endpoints: Sequence[Endpoint]) -> None:
        """Attempt the event at each matching endpoint, scoped ones first."""
        for endpoint in targets(endpoints, envelope):
            self.deliver(new_delivery(self.store.delivery_id(endpoint.id, envelope.event_id),
                                      envelope, endpoint), endpoint)

    def deliver(self, fresh: Delivery, endpoint: Endpoint) -> Attempt | None:
        """The first attempt of a delivery, unless one was already recorded."""
        with self._locks[fresh.delivery_id.int % _LOCK_STRIPES]:  # the stream and retries never race
            delivery = self.store.load(fresh.delivery_id) or fresh
            if delivery.status in FINAL:
                return None
            if delivery.attempts:  # pending: it belongs to the retry schedule
                self.retries.ensure(delivery.delivery_id, delivery.next_attempt_at or self.clock())
                return None
            return self._attempt(delivery, endpoint, retrying=False)

    def retry(self, delivery_id: UUID) -> Attempt | None:
        """The next attempt of a scheduled delivery; its entry goes once the delivery is final."""
        with self._locks[delivery_id.int % _LOCK_STRIPES]:
            delivery = self.store.load(delivery_id)
            if delivery is None or delivery.status in FINAL:
                self.retries.delete(delivery_id)  # None: the replayed event will attempt it
                return None
            endpoint = self._endpoint(delivery)
            if endpoint is None:
                self.store.abandon(delivery_id, GONE)
                self.retries.delete(delivery_id)
                return None
            return self._attempt(delivery, endpoint, retrying=True)

    def _endpoint(self, delivery: Delivery) -> Endpoint | None:
        found = [e for e in self.store.endpoints(delivery.customer_id) if e.id == delivery.endpoint_id]
        return found[0] if found and found[0].is_active else None

    def _attempt(self, delivery: Delivery, endpoint: Endpoint, retrying: bool) -> Attempt:
        now = self.clock()
        signed = headers(endpoint.secret, delivery.event_id, int(now.timestamp()), delivery.body)
        result = self.poster.post(endpoint.url, delivery.body, signed)
        ended = now + timedelta(milliseconds=result.duration_ms)  # the wait starts after the answer
        next_at = None if result.ok else self.schedule.next_attempt(
            delivery.attempts + 1, delivery.first_attempt_at or now, ended)
        if next_at is not None:
            self.retries.upsert(delivery.delivery_id, next_at)  # before the event: never lost
        after = self.store.record(delivery, result, now, next_at)
        if after.status in FINAL and (retrying or next_at is not None):
            self.retries.delete(delivery.delivery_id)
        log.log(logging.DEBUG if result.ok else logging.INFO, "webhook %s to %s: attempt %d %s (%d %s)",
                delivery.event_id, endpoint.id, after.attempts, after.status, result.status_code,
                result.error)
        return result


class WebhookSink:
    """A :class:`~consumers.records.Sink`: attempts the batch's customer events, then returns."""

    def __init__(self, worker: WebhookWorker, concurrency: int = 1) -> None:
        self.worker = worker
        self._pool = ThreadPoolExecutor(concurrency, "webhooks") if concurrency > 1 else None

    def write(self, envelopes: Sequence[Envelope]) -> None:
        """Deliver each customer event once per batch; raises if any attempt could not be recorded."""
        wanted = list({e.event_id: e for e in envelopes if e.event_type in EVENT_NAMES}.values())
        known: dict[UUID, list[Endpoint]] = {}
        for customer_id in dict.fromkeys(e.customer_id for e in wanted):
            known[customer_id] = self.worker.store.endpoints(customer_id)
        jobs = [(e, known[e.customer_id]) for e in wanted if known[e.customer_id]]
        if self._pool is None:
            for envelope, endpoints in jobs:
                self.worker.deliver_event(envelope, endpoints)
            return
        for _ in self._pool.map(lambda job: self.worker.deliver_event(*job), jobs):  # re-raises
            pass

    def close(self) -> None:
        """Stop the thread pool (after the loop's last flush)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def run_retries(worker: WebhookWorker, stop: threading.Event, *, every_s: float = 0.5,
                batch: int = 8, lease: timedelta = LEASE) -> None:
    """Re-attempt due deliveries until ``stop`` is set; claimed leftovers are released."""
    schedule = worker.retries
    while not stop.is_set():
        due = schedule.claim_due(worker.clock(), batch, lease)
        for done, delivery_id in enumerate(due):
            if stop.is_set():
                schedule.release(due[done:], worker.clock())
                return
            worker.retry(delivery_id)
        if len(due) < batch:
            stop.wait(every_s)
