"""The delivery worker: a consumer-loop sink that hands every queued message to the relay.

Guarantees (spec §3, "What happens to a queued message"):

* **Offsets are committed only after outcomes are recorded.** :meth:`DeliverySink.write`
  returns only once every ``queued`` message of the batch is final or has its outcome
  (sent, deferred, bounced, failed) durably appended to the event store; the loop commits
  after ``write`` returns (``consumers/loop.py``). Any error propagates: nothing is
  committed, and the process exits for its supervisor to restart it.
* **Redelivery sends nothing new.** A message whose status is already final is skipped,
  and a ``deferred`` one belongs to the retry schedule, so a replayed batch only re-checks.
* **A crash never sends a message with a different Message-ID.** The bytes are rendered
  from the stored message, and ``Message-ID: <id@domain>`` and the MIME boundary derive
  from the message id. A crash between the relay's ``250`` and the recorded outcome
  replays the queued event and the message goes out again with the *same* Message-ID,
  which receivers de-duplicate: the one case where a message is handed over twice.
* **Nothing is lost.** A deferred message enters the durable retry schedule *before* its
  ``Deferred`` event is saved; :func:`run_retries` claims due entries with a lease, so an
  entry claimed by a worker that dies comes back when the lease ends. An entry whose
  message turns out to be final is deleted.

Outcomes: relay 2xx -> sent; 5xx -> bounced (hard, source ``smtp``); 4xx or no answer ->
deferred at :meth:`RetryPolicy.next_attempt`, or failed once the policy gives up; a message
that can never be rendered or signed (:class:`RenderError` or another ``ValueError``, a
bad DKIM key, a removed sending domain) -> failed.
"""

from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING

import dkim

from consumers.delivery.ports import DeliveryResult
from consumers.delivery.ports import LoadedMessage
from consumers.delivery.ports import MessageStore
from consumers.delivery.ports import RetrySchedule
from consumers.delivery.render import render

if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Sequence
    from uuid import UUID

    from consumers.delivery.render import TrackingLinks
    from consumers.delivery.retry import RetryPolicy
    from consumers.delivery.transport import Outcome
    from consumers.delivery.transport import Transport
    from event_store.envelope import Envelope

__all__ = ["DeliveryResult", "Deliverer", "DeliverySink", "LoadedMessage", "MessageStore",
           "RetrySchedule", "run_retries"]
log = logging.getLogger(__name__)

FINAL = frozenset({"sent", "bounced", "failed"})
_ENHANCED_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_LOCK_STRIPES = 64
#: How long a claimed retry stays invisible to other claimers; longer than a few SMTP timeouts.
LEASE = timedelta(minutes=5)


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class Deliverer:
    """Loads, renders, sends and records one message at a time per message id."""

    def __init__(self, store: MessageStore, transport: Transport, tracking: TrackingLinks,
                 retries: RetrySchedule, policy: RetryPolicy,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.store, self.transport, self.tracking = store, transport, tracking
        self.retries, self.policy, self.clock = retries, policy, clock
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]

    def deliver(self, message_id: UUID, *, retrying: bool = False) -> DeliveryResult | None:
        """Attempt one message unless it is final (or, from the stream, already deferred)."""
        with self._locks[message_id.int % _LOCK_STRIPES]:  # the stream and retries never race
            loaded = self.store.load(message_id)
            if loaded.status in FINAL:
                if retrying:
                    self.retries.delete(message_id)
                return None
            if loaded.status == "deferred" and not retrying:
                self.retries.ensure(message_id, loaded.retry_at or self.clock())
                return None
            return self._attempt(message_id, loaded, retrying)

    def _attempt(self, message_id: UUID, loaded: LoadedMessage, retrying: bool) -> DeliveryResult:
        result = self._send(loaded)
        if result.outcome == "deferred" and result.retry_at is not None:
            self.retries.upsert(message_id, result.retry_at)  # before the event: never lost
        status = self.store.record(message_id, result)
        if status in FINAL and (retrying or result.outcome == "deferred"):
            self.retries.delete(message_id)
        log.log(logging.DEBUG if result.outcome == "sent" else logging.INFO,
                "message %s: %s (%d %s)", message_id, result.outcome, result.code, result.detail)
        return result

    def _send(self, loaded: LoadedMessage) -> DeliveryResult:
        message = loaded.message
        if loaded.suppressed is not None:
            return DeliveryResult("failed", 0, f"not sent: {loaded.suppressed} since it was queued")
        if loaded.signer is None:
            return DeliveryResult("failed", 0, f"no DKIM key: the sending domain {message.domain} "
                                               "was removed")
        try:
            data = render(message, self.tracking, dkim=loaded.signer)
            outcome = self.transport.deliver(message.envelope_from, message.recipients, data)
        except (ValueError, dkim.DKIMException) as error:  # RenderError is a ValueError
            return DeliveryResult("failed", 0, f"cannot be sent: {error}")
        return self._judge(outcome, loaded.attempts + 1)

    def _judge(self, outcome: Outcome, attempt: int) -> DeliveryResult:
        if outcome.status == "sent":
            return DeliveryResult("sent", outcome.code, outcome.detail)
        if outcome.status == "bounced":
            found = _ENHANCED_STATUS.search(outcome.detail)
            return DeliveryResult("bounced", outcome.code, outcome.detail,
                                  status=found.group(1) if found else None)
        retry_at = self.policy.next_attempt(attempt, self.clock())
        if retry_at is None:
            return DeliveryResult("failed", outcome.code, f"retry budget spent: {outcome.detail}")
        return DeliveryResult("deferred", outcome.code, outcome.detail, retry_at=retry_at)


class DeliverySink:
    """A :class:`~consumers.records.Sink`: delivers the batch's ``queued`` messages, then returns."""

    def __init__(self, deliverer: Deliverer, concurrency: int = 1) -> None:
        self.deliverer = deliverer
        self._pool = ThreadPoolExecutor(concurrency, "delivery") if concurrency > 1 else None

    def write(self, envelopes: Sequence[Envelope]) -> None:
        """Deliver each queued message once per batch; raises if any could not be recorded."""
        ids = list(dict.fromkeys(e.email_id for e in envelopes
                                 if e.event_type == "queued" and e.email_id is not None))
        if self._pool is None:
            for message_id in ids:
                self.deliverer.deliver(message_id)
            return
        for _ in self._pool.map(self.deliverer.deliver, ids):  # re-raises the first failure
            pass

    def close(self) -> None:
        """Stop the thread pool (after the loop's last flush)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def run_retries(deliverer: Deliverer, stop: threading.Event, *, every_s: float = 1.0,
                batch: int = 8, lease: timedelta = LEASE) -> None:
    """Re-attempt due deferred messages until ``stop`` is set; claimed leftovers are released.

    A small ``batch`` keeps every claimed entry's attempt well inside its ``lease``.
    """
    schedule = deliverer.retries
    while not stop.is_set():
        due = schedule.claim_due(deliverer.clock(), batch, lease)
        for done, message_id in enumerate(due):
            if stop.is_set():
                schedule.release(due[done:], deliverer.clock())
                return
            deliverer.deliver(message_id, retrying=True)
        if len(due) < batch:
            stop.wait(every_s)
